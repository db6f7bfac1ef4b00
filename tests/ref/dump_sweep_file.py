"""Prints a sweep file (runs/<name>/sweep.h5, io/sweep_store.h) as h5py reads it, in the plain
text form that tests/test_sweep_store.c builds from the table it wrote, so that the test can
compare the two byte for byte:

    dump_sweep_file.py RUN_DIR

One line of attributes, the config, one line per trial (columns, then metric=value for every
metric column, NaN included), one line per link under trials/ with the trial_id attribute read
through the link ("dangling" when its file is missing). Numbers print as %.17g; text escapes
backslash and newline. Run by the test only when the reference venv has h5py.
"""
import sys

import h5py
import numpy as np

COLUMNS = ["index", "id", "repeat", "status", "params", "seed", "host", "rank", "device",
           "start_time", "end_time", "seconds", "error"]
DTYPES = {"index": np.int32, "repeat": np.int32, "seed": np.uint64, "rank": np.int32,
          "start_time": np.float64, "end_time": np.float64, "seconds": np.float64}


def text(s):
    return s.replace("\\", "\\\\").replace("\n", "\\n")


def number(x):
    return f"{x:.17g}" if isinstance(x, float) else str(x)


def main(run_dir):
    out = []
    with h5py.File(f"{run_dir}/sweep.h5", "r") as f:
        a = f.attrs
        out.append(f"format_version={a['format_version']} name={text(a['name'])} "
                   f"version={text(a['version'])} created={a['created']} n_trials={a['n_trials']} "
                   f"config_hash={a['config_hash']} updated_ends_in_Z={a['updated'].endswith('Z')}")
        out.append(f"config={text(a['config'])}")
        table, n = f["table"], int(a["n_trials"])
        columns = {}
        for name in COLUMNS:
            ds = table[name]
            want = DTYPES.get(name)
            if want is None:
                assert h5py.check_string_dtype(ds.dtype).encoding == "utf-8", name
                columns[name] = list(ds.asstr()[:])
            else:
                assert ds.dtype == want, f"{name}: {ds.dtype}"
                columns[name] = [v.item() for v in ds[:]]
            assert len(columns[name]) == n, name
        names = list(table["metric_names"].asstr()[:])
        metrics = table["metrics"][:]
        assert metrics.dtype == np.float64 and metrics.shape == (n, len(names)), metrics.shape
        for i in range(n):
            values = [columns[c][i] for c in COLUMNS]
            fields = [text(v) if isinstance(v, str) else number(v) for v in values]
            fields += [f"{text(name)}={number(float(metrics[i, k]))}"
                       for k, name in enumerate(names)]
            out.append(" | ".join(fields))
        for name in sorted(f["trials"]):
            link = f["trials"].get(name, getlink=True)
            assert isinstance(link, h5py.ExternalLink), name
            try:
                seen = f["trials"][name].attrs["trial_id"]
            except (KeyError, OSError):
                seen = "dangling"
            out.append(f"link {name} -> {link.filename}:{link.path} trial_id={seen}")
    sys.stdout.buffer.write(("\n".join(out) + "\n").encode("utf-8"))


if __name__ == "__main__":
    main(sys.argv[1])
