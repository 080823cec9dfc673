#include "safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
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
            if (i_ + 4 > s_.size()) error("bad \\u escape");
            unsigned cp = std::stoul(s_.substr(i_, 4), nullptr, 16);
            i_ += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && i_ + 6 <= s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
              unsigned lo = std::stoul(s_.substr(i_ + 2, 4), nullptr, 16);
              i_ += 6;
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
          default: error("bad escape");
        }
      } else {
        out += c;
      }
    }
    return out;
  }
  uint64_t integer() {
    size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    if (start == i_) error("expected a non-negative integer");
    if (i_ - start > 19) error("integer too large");
    return std::stoull(s_.substr(start, i_ - start));
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
        for (auto v : int_array()) e.shape.push_back(static_cast<int64_t>(v));
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

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

SafetensorsHeader read_header(const std::string& file) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) fail(file, "cannot open file");
  SafetensorsHeader h;
  h.file = file;
  h.file_size = static_cast<uint64_t>(in.tellg());
  if (h.file_size < 8) fail(file, "not a safetensors file (only " + std::to_string(h.file_size) + " bytes)");
  in.seekg(0);
  unsigned char lenbuf[8];
  in.read(reinterpret_cast<char*>(lenbuf), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | lenbuf[i];
  if (n == 0 || n > h.file_size - 8 || n > (100ull << 20))
    fail(file, "not a safetensors file: header length " + std::to_string(n) + " does not fit the file size " +
                   std::to_string(h.file_size));
  std::string text(n, '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  if (!in) fail(file, "could not read the header");
  h.data_start = 8 + n;
  JsonReader(text, file).parse_header(h);
  const uint64_t data_size = h.file_size - h.data_start;
  for (const auto& [key, e] : h.tensors) {
    const size_t es = dtype_size(e.dtype);
    if (es == 0) fail(file, "tensor \"" + key + "\": unknown dtype \"" + e.dtype + "\"");
    uint64_t numel = 1;
    for (auto d : e.shape) numel *= static_cast<uint64_t>(d);
    if (e.end < e.begin || e.end - e.begin != numel * es)
      fail(file, "tensor \"" + key + "\": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                     ") do not match shape " + shape_str(e.shape) + " of " + e.dtype);
    if (e.end > data_size)
      fail(file, "tensor \"" + key + "\": data ends at byte " + std::to_string(e.end) + " of the data section but the file has only " +
                     std::to_string(data_size) + " data bytes (truncated file?)");
  }
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
