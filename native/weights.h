// A model's parameters under Hugging Face's key names, and moving them (and AdamW's state) to and from safetensors
// files. safetensors.h does the strict file I/O; this file matches file keys to parameters.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime.h"

namespace radbert {

// The model's parameters with HF key names: body under "model." in the task models (no prefix for a bare
// ModernBertModel), task-head tensors as head.*, classifier.*, decoder.*.
NamedTensors hf_parameters(ModernBert& m);

// Per hf_parameters entry: whether HF Trainer applies weight decay to it (optim.h's hf_weight_decay).
std::vector<bool> weight_decay_flags(ModernBert& m, const NamedTensors& params);

// Before a model is allocated: compares config sizes (vocab_size, hidden_size, intermediate_size, num_hidden_layers,
// num_labels) with the shapes in the safetensors headers of `files`. Throws std::invalid_argument naming
// `config_file`, the key, the weight file and the tensor.
void check_config_against_weights(const Config& c, const std::vector<std::string>& files, const std::string& config_file);

// What load_weights did, by HF key.
struct LoadReport {
  std::vector<std::string> loaded, missing, unexpected;
};

// Reads matching tensors from safetensors files into the parameters. File keys match a parameter as they are, with
// "model." added or with "model." removed (a body saved bare or inside a task model); a tied decoder.weight is not
// "unexpected". Every header and shape is checked before any parameter changes (an error changes nothing).
// `skip`: model parameter names (HF keys) not to load even when a file has them (they keep their values and are
// reported missing), e.g. a classifier head re-initialised for new labels (HF's ignore_mismatched_sizes).
LoadReport load_weights(ModelState& s, const std::vector<std::string>& files, const std::set<std::string>& skip = {});

// Writes the parameters (what == "params") or their gradients (what == "grads"; zeros where none) as float32.
void save_weights(ModelState& s, const std::string& file, const std::string& what,
                  const std::map<std::string, std::string>& metadata);

// AdamW's moments and step count: exp_avg.<key>, exp_avg_sq.<key>, metadata "step".
void save_optimizer(ModelState& s, const std::string& file);
// Restores what save_optimizer wrote, checking every key and shape against the model before replacing the state.
void load_optimizer(ModelState& s, const std::string& file);

// "[a, b, c]".
std::string shape_str(c10::IntArrayRef s);

}  // namespace radbert
