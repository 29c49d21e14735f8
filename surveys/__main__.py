"""``python -m surveys check`` verifies every instrument and the lock; ``lock`` adds new versions."""

import sys

from surveys.loader import InstrumentError, add_missing_to_lock, available_instruments, check_lock, load_instrument


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    try:
        if command == "check":
            for key in available_instruments():
                load_instrument(key)
            problems = check_lock()
            for problem in problems:
                print(problem, file=sys.stderr)
            return 1 if problems else 0
        if command == "lock":
            for key in add_missing_to_lock():
                print(f"locked {key}")
            return 0
    except InstrumentError as error:
        print(error, file=sys.stderr)
        return 2
    print("usage: python -m surveys [check|lock]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
