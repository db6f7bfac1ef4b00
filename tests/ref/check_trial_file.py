"""Reads a trial file written by tests/test_trial_store.c the way users do, with h5py.

    check_trial_file.py FILE running    # while the trial runs (FILE.tmp, SWMR read)
    check_trial_file.py FILE finished   # the renamed, finished file

Checks the attributes, that every dataset has the documented shape and dtype (representations
decode as numpy float16, close to the values the test wrote), and in a finished file the
evaluation. Exits 1 with the failed check's message. Run by the test only when the reference
venv has h5py; `pip install h5py` into .venv-ref to enable it.
"""
import sys

import h5py
import numpy as np

METRICS = ["round", "disc_loss_train", "disc_acc_train", "disc_acc_test", "disc_loss_test",
           "gen_loss_train", "gen_loss_test", "retain_loss", "guard_answer_rate",
           "guard_perplexity", "seconds_generator", "seconds_extract", "seconds_discriminator",
           "seconds_guard", "tokens_per_second", "guard_preserved", "guard_distinct",
           "target_nll", "refusal_nll"]


def rep_values(rounds, n_samples, n_layers, dim):
    """test_trial_store.c's rep_value, [len(rounds), n_samples, n_layers, dim]."""
    r, s, l, d = np.meshgrid(np.array(rounds, dtype=np.float64), np.arange(n_samples),
                             np.arange(n_layers), np.arange(dim), indexing="ij")
    return np.ldexp(np.sin(r + 0.37 * s + 0.11 * l + 0.013 * d), (s.astype(int) % 5) * 3 - 4)


def check(cond, message):
    if not cond:
        print(f"check_trial_file.py: {message}")
        sys.exit(1)


def main(path, mode):
    running = mode == "running"
    with h5py.File(path, "r", swmr=running) as f:
        a = f.attrs
        check(a["format_version"] == 1 and a["trial_id"] == "a1b2c3d4", "format_version/trial_id")
        check(a["seed"] == 1234567890123 and a["rank"] == 3 and a["host"] == "node017", "provenance")
        check(a["status"] == ("running" if running else "done"), f"status {a['status']}")
        check(a["start_time"].endswith("Z") and (running or a["end_time"] >= a["start_time"]),
              "start_time/end_time")
        check(isinstance(a["config"], str) and "max_rounds" in a["config"], "config text")

        n_rounds = f["metrics/round"].shape[0]
        for name in METRICS:
            ds = f["metrics/" + name]
            check(ds.ndim == 1 and ds.shape[0] == n_rounds and ds.maxshape == (None,),
                  f"metrics/{name} shape {ds.shape} maxshape {ds.maxshape}")
            want = np.int32 if name == "round" else np.float64
            check(ds.dtype == want, f"metrics/{name} dtype {ds.dtype}")
        check(list(f["metrics/round"][:]) == list(range(n_rounds)), "metrics/round values")

        reps, stored = f["representations"], f["stored_rounds"][:]
        n_samples, n_layers = f["labels"].shape[0], f["layers"].shape[0]
        check(reps.dtype == np.float16, f"representations dtype {reps.dtype}")
        check(reps.shape[1:3] == (n_samples, n_layers) and reps.maxshape[0] is None,
              f"representations shape {reps.shape}")
        k = min(len(stored), reps.shape[0])
        want = rep_values(stored[:k], n_samples, n_layers, reps.shape[3])
        got = reps[:k].astype(np.float64)
        check(np.all(np.abs(got - want) <= 2.0**-11 * np.abs(want) + 2.0**-25),
              "representations are not the written values to half precision")
        check(f["labels"].dtype == np.int32 and f["is_test"].dtype == np.int8, "labels/is_test")
        check(f["lora_weights"].dtype == np.float32 and
              f["lora_weights"].shape[0] == f["lora_rounds"].shape[0], "lora_weights")
        markers = list(f["evaluation/refusal_markers"].asstr()[:])
        check(markers == ["I'm sorry", "As an AI", "I cannot"], f"refusal_markers {markers}")
        if running:
            return
        harmful = f["evaluation/edited/harmful"]
        check(dict(harmful.attrs) == {"refusal_rate": 0.125, "answer_rate": 0.875},
              f"evaluation metrics {dict(harmful.attrs)}")
        texts = list(harmful["texts"].asstr()[:])
        check(texts[0] == "Sure, here is how \ufffd", f"texts {texts}")
        check(f["evaluation/base/mc/prompts"].shape == (0,), "empty prompts")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    print("check_trial_file.py: ok")
