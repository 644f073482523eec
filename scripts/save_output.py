"""Run a command, show its output and also save it to a file (weasel runs no shell).

    python scripts/save_output.py metrics/speed.txt python -m spacy benchmark speed ...
"""
import subprocess
import sys
from pathlib import Path


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    out, cmd = Path(sys.argv[1]), sys.argv[2:]
    if cmd[0] in ("python", "python3"):  # the interpreter weasel runs with
        cmd[0] = sys.executable
    result = subprocess.run(cmd, capture_output=True, text=True)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(result.stdout + result.stderr, encoding="utf8")
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
