"""The parity test's ModernBERT configs (pure data, no imports): used by test/python/make_fixtures.py and by
scripts/gpu/hf_side.py on the GPU machine (whose python may lack pyarrow, so this module imports nothing)."""

CONFIGS = {
    # (a) head_dim 32, 5 layers with global every 3 (not a multiple), window 16 (+-8) that slides over 200-token
    # captions, cls pooling, every bias flag off (the defaults), gelu.
    "awkward": dict(hidden_size=96, num_attention_heads=3, intermediate_size=160, num_hidden_layers=5,
                    global_attn_every_n_layers=3, local_attention=16, classifier_pooling="cls", num_labels=9),
    # (b) head_dim 16, global every 2, window 8 (+-4), mean pooling, every bias on, tanh-gelu MLP, silu head.
    "biases_mean": dict(hidden_size=80, num_attention_heads=5, intermediate_size=112, num_hidden_layers=4,
                        global_attn_every_n_layers=2, local_attention=8, classifier_pooling="mean",
                        attention_bias=True, mlp_bias=True, norm_bias=True, classifier_bias=True,
                        hidden_activation="gelu_pytorch_tanh", classifier_activation="silu", num_labels=7),
    # (c1) head_dim 12, every layer global, relu MLP, gelu_new head, mean pooling; clipped at 0.1 in the step.
    "all_global": dict(hidden_size=72, num_attention_heads=6, intermediate_size=128, num_hidden_layers=2,
                       global_attn_every_n_layers=1, local_attention=16, classifier_pooling="mean",
                       hidden_activation="relu", classifier_activation="gelu_new", num_labels=11),
    # (c2) odd window 15 (+-7), only layer 0 global, non-default thetas 80000/5000, norm_eps 1e-6, "swish" MLP,
    # dropouts on (eval only); config.json rewritten as transformers 4.x wrote it (no layer_types/rope_parameters).
    "legacy_odd": dict(hidden_size=64, num_attention_heads=2, intermediate_size=96, num_hidden_layers=3,
                       global_attn_every_n_layers=3, local_attention=15, global_rope_theta=80000.0,
                       local_rope_theta=5000.0, embedding_dropout=0.1, attention_dropout=0.1, mlp_dropout=0.1,
                       classifier_dropout=0.1, norm_eps=1e-6, hidden_activation="swish", num_labels=13),
}
