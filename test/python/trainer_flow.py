"""
HF Trainer's own control flow for a run, with the evaluation metrics scripted: what transformers does with the
training_args.json a radbert-native run wrote (lr_scheduler_type/kwargs, warm-up, eval_strategy/eval_steps,
save_strategy/save_steps, metric_for_best_model, greater_is_better, load_best_model_at_end, and EarlyStoppingCallback's
early_stopping_patience/threshold), given the metrics that run produced at each of its evaluations, in order. The model
is a one-parameter module on dummy rows: everything that decides when to log, evaluate, save and stop, the learning
rate of each step and which checkpoint is best is Trainer's (transformers 5.17), untouched.

stdin: a JSON list of {rows, training_args, metrics: [{name: value, ...} per evaluation], output_dir}.
stdout (last line): a JSON list, one {log_history, global_step, best_global_step, best_metric, best_model_checkpoint,
checkpoints, eval_steps, save_steps, evaluations_left} per run.
"""
import json
import os
import sys
import warnings

import torch
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

warnings.filterwarnings("ignore")


class OneParameter(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, labels=None):
        return {"loss": ((self.w - x.float().mean()) ** 2).sum()}


class ScriptedTrainer(Trainer):
    """Trainer whose evaluate() returns the next scripted metrics (logging them and calling on_evaluate as evaluate does)."""

    script = []

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        if not self.script:
            raise RuntimeError(f"Trainer evaluates at step {self.state.global_step}, more often than the run under test")
        metrics = {f"eval_{k}": v for k, v in self.script.pop(0).items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


# the TrainingArguments fields read from training_args.json as they are
ARGS = ["learning_rate", "per_device_train_batch_size", "num_train_epochs", "max_steps", "lr_scheduler_type",
        "lr_scheduler_kwargs", "eval_strategy", "eval_steps", "save_strategy", "save_steps", "logging_steps",
        "load_best_model_at_end", "metric_for_best_model", "greater_is_better", "weight_decay", "max_grad_norm", "seed"]


def run(a):
    t = a["training_args"]
    rows = [{"x": torch.tensor([float(i)])} for i in range(a["rows"])]
    args = TrainingArguments(
        output_dir=a["output_dir"], **{k: t[k] for k in ARGS},
        # transformers 5 has warmup_steps only: a fraction < 1 of the total steps is the ratio
        warmup_steps=t["warmup_steps"] if t["warmup_steps"] > 0 else t["warmup_ratio"],
        save_total_limit=None, report_to="none", use_cpu=True, disable_tqdm=True, remove_unused_columns=False,
        dataloader_num_workers=0,
    )
    callbacks = []
    if t["early_stopping_patience"] is not None:
        callbacks.append(EarlyStoppingCallback(t["early_stopping_patience"], t["early_stopping_threshold"]))
    ScriptedTrainer.script = list(a["metrics"])
    trainer = ScriptedTrainer(model=OneParameter(), args=args, train_dataset=rows, eval_dataset=rows[:1],
                              data_collator=lambda f: {"x": torch.stack([r["x"] for r in f])}, callbacks=callbacks)
    trainer.train()
    s = trainer.state
    return {
        "log_history": s.log_history, "global_step": s.global_step, "best_global_step": s.best_global_step,
        "best_metric": s.best_metric,
        "best_model_checkpoint": os.path.basename(s.best_model_checkpoint) if s.best_model_checkpoint else None,
        "checkpoints": sorted(int(d.split("-")[1]) for d in os.listdir(a["output_dir"]) if d.startswith("checkpoint-")),
        "eval_steps": s.eval_steps, "save_steps": s.save_steps, "evaluations_left": len(ScriptedTrainer.script),
    }


def main():
    out = [run(a) for a in json.load(sys.stdin)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
