#include "safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace radbert {

namespace {

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw std::runtime_error(file + ": " + what);
}

// A small JSON reader for the safetensors header: objects, arrays, strings, integers (what the format uses),
// plus true/false/null and floats skipped in metadata-free positions.
class JsonReader {
 public:
  JsonReader(const std::string& text, const std::string& file) : s_(text), file_(file) {}

  void parse_header(SafetensorsHeader& h) {
    ws();
    expect('{');
    ws();
    if (peek() == '}') { ++i_; return; }
    for (;;) {
      ws();
      std::string key = string();
      ws();
      expect(':');
      ws();
      if (key == "__metadata__") parse_metadata(h.metadata);
      else {
        if (h.tensors.count(key)) error("duplicate tensor key \"" + key + "\"");
        h.tensors[key] = parse_entry(key);
      }
      ws();
      if (peek() == ',') { ++i_; continue; }
      expect('}');
      break;
    }
    ws();
    if (i_ != s_.size()) error("trailing characters after the header object");
  }

 private:
  const std::string& s_;
  const std::string& file_;
  size_t i_ = 0;

  [[noreturn]] void error(const std::string& msg) {
    fail(file_, "invalid safetensors header: " + msg + " (at byte " + std::to_string(i_) + " of the header)");
  }
  char peek() { return i_ < s_.size() ? s_[i_] : '\0'; }
  void ws() { while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_; }
  void expect(char c) {
    if (peek() != c) error(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string string() {
    expect('"');
    std::string out;
    while (true) {
      if (i_ >= s_.size()) error("unterminated string");
      char c = s_[i_++];
      if (c == '"') break;
      if (c == '\\') {
        if (i_ >= s_.size()) error("unterminated escape");
        char e = s_[i_++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            unsigned cp = hex4();
            if (cp >= 0xDC00 && cp <= 0xDFFF) error("unpaired low surrogate in a \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (!(i_ + 2 <= s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u')) error("unpaired high surrogate in a \\u escape");
              i_ += 2;
              const unsigned lo = hex4();
              if (lo < 0xDC00 || lo > 0xDFFF) error("a high surrogate not followed by a low surrogate in a \\u escape");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp < 0x80) out += static_cast<char>(cp);
            else if (cp < 0x800) { out += static_cast<char>(0xC0 | (cp >> 6)); out += static_cast<char>(0x80 | (cp & 0x3F)); }
            else if (cp < 0x10000) {
              out += static_cast<char>(0xE0 | (cp >> 12));
              out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
              out += static_cast<char>(0x80 | (cp & 0x3F));
            } else {
              out += static_cast<char>(0xF0 | (cp >> 18));
              out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
              out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
              out += static_cast<char>(0x80 | (cp & 0x3F));
            }
            break;
          }
          default: --i_; error(std::string("bad escape \\") + e);
        }
      } else if (static_cast<unsigned char>(c) < 0x20) {
        --i_;
        error("control character in a string");
      } else {
        out += c;
      }
    }
    return out;
  }
  // Four hex digits of a \u escape (i_ at the first).
  unsigned hex4() {
    unsigned v = 0;
    for (int k = 0; k < 4; ++k, ++i_) {
      const char c = peek();
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) error("bad \\u escape (expected 4 hex digits)");
      v = v * 16 + static_cast<unsigned>(d);
    }
    return v;
  }
  uint64_t integer() {
    const size_t start = i_;
    uint64_t v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      const uint64_t d = static_cast<uint64_t>(s_[i_] - '0');
      if (v > (UINT64_MAX - d) / 10) error("integer overflows 64 bits");
      v = v * 10 + d;
      ++i_;
    }
    if (start == i_) error("expected a non-negative integer");
    return v;
  }
  void parse_metadata(std::map<std::string, std::string>& md) {
    expect('{');
    ws();
    if (peek() == '}') { ++i_; return; }
    for (;;) {
      ws();
      std::string k = string();
      ws();
      expect(':');
      ws();
      md[k] = string();
      ws();
      if (peek() == ',') { ++i_; continue; }
      expect('}');
      return;
    }
  }
  std::vector<uint64_t> int_array() {
    std::vector<uint64_t> out;
    expect('[');
    ws();
    if (peek() == ']') { ++i_; return out; }
    for (;;) {
      ws();
      out.push_back(integer());
      ws();
      if (peek() == ',') { ++i_; continue; }
      expect(']');
      return out;
    }
  }
  TensorEntry parse_entry(const std::string& key) {
    TensorEntry e;
    bool has_dtype = false, has_shape = false, has_offsets = false;
    expect('{');
    for (;;) {
      ws();
      std::string field = string();
      ws();
      expect(':');
      ws();
      if (field == "dtype") { e.dtype = string(); has_dtype = true; }
      else if (field == "shape") {
        for (auto v : int_array()) {
          if (v > static_cast<uint64_t>(INT64_MAX))
            error("tensor \"" + key + "\": overflow: shape dimension " + std::to_string(v) + " is too large");
          e.shape.push_back(static_cast<int64_t>(v));
        }
        has_shape = true;
      } else if (field == "data_offsets") {
        auto v = int_array();
        if (v.size() != 2) error("tensor \"" + key + "\": data_offsets must have 2 entries");
        e.begin = v[0];
        e.end = v[1];
        has_offsets = true;
      } else error("tensor \"" + key + "\": unknown field \"" + field + "\"");
      ws();
      if (peek() == ',') { ++i_; continue; }
      expect('}');
      break;
    }
    if (!has_dtype || !has_shape || !has_offsets)
      error("tensor \"" + key + "\": needs dtype, shape and data_offsets");
    return e;
  }
};

size_t dtype_size(const std::string& dt) {
  if (dt == "F32" || dt == "I32" || dt == "U32") return 4;
  if (dt == "F16" || dt == "BF16" || dt == "I16" || dt == "U16") return 2;
  if (dt == "F64" || dt == "I64" || dt == "U64") return 8;
  if (dt == "I8" || dt == "U8" || dt == "BOOL" || dt == "F8_E4M3" || dt == "F8_E5M2") return 1;
  return 0;
}

// Byte offset of the first invalid UTF-8 sequence in s (overlong forms, surrogates and code points above U+10FFFF
// are invalid, as Rust's str::from_utf8 says), or nothing when s is valid.
std::optional<size_t> invalid_utf8_at(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return i;
    if (i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return i;
    i += len;
  }
  return std::nullopt;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

SafetensorsHeader read_header(const std::string& file) {
  // Validation as the reference implementation (huggingface/safetensors, SafeTensors::read_metadata) does it: the
  // header fits in the file and is UTF-8 JSON; sorted by offsets, the tensors tile the data section exactly (each
  // starts where the previous one ended, the last one ends at the end of the file); sizes do not overflow.
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) fail(file, "cannot open file");
  SafetensorsHeader h;
  h.file = file;
  h.file_size = static_cast<uint64_t>(in.tellg());
  if (h.file_size < 8) fail(file, "not a safetensors file: header too small (only " + std::to_string(h.file_size) + " bytes)");
  in.seekg(0);
  unsigned char lenbuf[8];
  in.read(reinterpret_cast<char*>(lenbuf), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | lenbuf[i];
  if (n > (100ull << 20))
    fail(file, "not a safetensors file: header length " + std::to_string(n) + " is too large (over 100 MB; file size " +
                   std::to_string(h.file_size) + ")");
  if (n == 0 || n > h.file_size - 8)
    fail(file, "not a safetensors file: header length " + std::to_string(n) + " does not fit the file size " +
                   std::to_string(h.file_size));
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  if (!in) fail(file, "could not read the header");
  h.data_start = 8 + n;
  if (auto bad = invalid_utf8_at(text)) fail(file, "invalid safetensors header: invalid UTF-8 at byte " + std::to_string(*bad) + " of the header");
  JsonReader(text, file).parse_header(h);
  const uint64_t data_size = h.file_size - h.data_start;
  std::vector<std::pair<const std::string*, const TensorEntry*>> by_offset;
  for (const auto& [key, e] : h.tensors) {
    const size_t es = dtype_size(e.dtype);
    if (es == 0) fail(file, "tensor \"" + key + "\": unknown dtype \"" + e.dtype + "\"");
    uint64_t numel = 1;
    for (auto d : e.shape) {
      if (d != 0 && numel > UINT64_MAX / static_cast<uint64_t>(d))
        fail(file, "tensor \"" + key + "\": overflow computing its size from shape " + shape_str(e.shape));
      numel *= static_cast<uint64_t>(d);
    }
    if (numel > UINT64_MAX / es) fail(file, "tensor \"" + key + "\": overflow computing its size from shape " + shape_str(e.shape) + " of " + e.dtype);
    if (e.end < e.begin || e.end - e.begin != numel * es)
      fail(file, "tensor \"" + key + "\": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                     ") do not match shape " + shape_str(e.shape) + " of " + e.dtype);
    if (e.end > data_size)
      fail(file, "tensor \"" + key + "\": data ends at byte " + std::to_string(e.end) + " of the data section but the file has only " +
                     std::to_string(data_size) + " data bytes (truncated file?)");
    by_offset.emplace_back(&key, &e);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const auto& a, const auto& b) {
    return std::make_pair(a.second->begin, a.second->end) < std::make_pair(b.second->begin, b.second->end);
  });
  uint64_t covered = 0;
  for (const auto& [key, e] : by_offset) {
    if (e->begin != covered)
      fail(file, "tensor \"" + *key + "\": invalid offset: its data starts at byte " + std::to_string(e->begin) + " but the previous tensor ends at byte " +
                     std::to_string(covered) + (e->begin < covered ? " (overlapping tensors)" : " (a gap in the data)"));
    covered = e->end;
  }
  if (covered != data_size)
    fail(file, "incomplete metadata, file not fully covered: the tensors' data ends at byte " + std::to_string(covered) +
                   " of a " + std::to_string(data_size) + "-byte data section");
  return h;
}

namespace {
const TensorEntry& entry_of(const SafetensorsHeader& h, const std::string& key) {
  auto it = h.tensors.find(key);
  if (it == h.tensors.end()) fail(h.file, "no tensor \"" + key + "\"");
  return it->second;
}

void read_bytes(const SafetensorsHeader& h, const std::string& key, const TensorEntry& e, void* dst) {
  std::ifstream in(h.file, std::ios::binary);
  if (!in) fail(h.file, "cannot open file");
  in.seekg(static_cast<std::streamoff>(h.data_start + e.begin));
  in.read(static_cast<char*>(dst), static_cast<std::streamsize>(e.end - e.begin));
  if (!in) fail(h.file, "tensor \"" + key + "\": could not read its data (truncated file?)");
}
}  // namespace

torch::Dtype float_dtype(const SafetensorsHeader& h, const std::string& key) {
  const auto& d = entry_of(h, key).dtype;
  if (d == "F32") return torch::kFloat;
  if (d == "F16") return torch::kHalf;
  if (d == "BF16") return torch::kBFloat16;
  if (d == "F64") return torch::kDouble;
  fail(h.file, "tensor \"" + key + "\": dtype " + d + " is not a floating-point type (expected F32, BF16 or F16)");
}

torch::Tensor read_tensor(const SafetensorsHeader& h, const std::string& key) {
  const auto dt = float_dtype(h, key);
  const TensorEntry& e = entry_of(h, key);
  auto t = torch::empty(e.shape, torch::TensorOptions().dtype(dt));
  read_bytes(h, key, e, t.data_ptr());
  return dt == torch::kFloat ? t : t.to(torch::kFloat);
}

void read_tensor_into(const SafetensorsHeader& h, const std::string& key, torch::Tensor& dst) {
  const auto dt = float_dtype(h, key);
  const TensorEntry& e = entry_of(h, key);
  if (c10::IntArrayRef(e.shape) != dst.sizes()) fail(h.file, "tensor \"" + key + "\": shape does not match its destination");
  torch::NoGradGuard guard;
  if (dt == dst.scalar_type() && dst.device().is_cpu() && dst.is_contiguous()) read_bytes(h, key, e, dst.data_ptr());
  else dst.copy_(read_tensor(h, key));
}

void write_safetensors(const std::string& file, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  auto sorted = tensors;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  auto quote = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') { out += '\\'; out += c; }
      else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else out += c;
    }
    return out + "\"";
  };
  std::vector<torch::Tensor> data;
  std::ostringstream hdr;
  hdr << "{";
  bool first = true;
  if (!metadata.empty()) {
    hdr << "\"__metadata__\":{";
    bool f = true;
    for (const auto& [k, v] : metadata) {
      hdr << (f ? "" : ",") << quote(k) << ":" << quote(v);
      f = false;
    }
    hdr << "}";
    first = false;
  }
  uint64_t offset = 0;
  for (const auto& [key, t0] : sorted) {
    auto t = t0.detach().to(torch::kCPU, torch::kFloat).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * 4;
    hdr << (first ? "" : ",") << quote(key) << ":{\"dtype\":\"F32\",\"shape\":[";
    for (int64_t d = 0; d < t.dim(); ++d) hdr << (d ? "," : "") << t.size(d);
    hdr << "],\"data_offsets\":[" << offset << "," << offset + bytes << "]}";
    offset += bytes;
    first = false;
    data.push_back(t);
  }
  hdr << "}";
  std::string header = hdr.str();
  while (header.size() % 8 != 0) header += ' ';
  const std::string tmp = file + ".tmp-" + std::to_string(reinterpret_cast<uintptr_t>(&header));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail(file, "cannot write (is the folder writable?)");
    uint64_t n = header.size();
    unsigned char lenbuf[8];
    for (int i = 0; i < 8; ++i) lenbuf[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xFF);
    out.write(reinterpret_cast<const char*>(lenbuf), 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& t : data) out.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * 4));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      fail(file, "write failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), file.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail(file, "could not move the written file into place");
  }
}

}  // namespace radbert
