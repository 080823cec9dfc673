// safetensors read/write (https://github.com/huggingface/safetensors format: u64 LE header length, JSON header, data).
// Every error names the file and, where there is one, the tensor key.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace radbert {

struct TensorEntry {
  std::string dtype;           // "F32", "F16", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // offsets into the data section
};

struct SafetensorsHeader {
  std::string file;
  uint64_t data_start = 0;  // 8 + header length
  uint64_t file_size = 0;
  std::map<std::string, TensorEntry> tensors;
  std::map<std::string, std::string> metadata;
};

// Parses and validates the header (sizes, offsets inside the file). Throws std::runtime_error naming the file/key.
SafetensorsHeader read_header(const std::string& file);

// The tensor's floating-point dtype; throws naming the file and key for an unknown or non-float dtype.
torch::Dtype float_dtype(const SafetensorsHeader& header, const std::string& key);

// Reads one tensor straight into `dst` (same shape; converted to dst's dtype and device), with no staging copy
// when dst is a contiguous CPU tensor of the file's dtype. Throws naming the file and key.
void read_tensor_into(const SafetensorsHeader& header, const std::string& key, torch::Tensor& dst);

// Reads one tensor as float32 (converting F16/BF16/F64), on CPU. Throws naming the file and key.
torch::Tensor read_tensor(const SafetensorsHeader& header, const std::string& key);

// Writes tensors (converted to contiguous float32 on CPU), keys in sorted order, atomically (temp file + rename).
void write_safetensors(const std::string& file, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace radbert
