"""Table-driven TAP for the Python plumbing tests: register named cases,
each returning (passed, detail), and run them all."""


class Cases:
    def __init__(self):
        self.cases = []

    def add(self, name):
        """Decorator: one case; its detail is printed when it fails."""
        def wrap(fn):
            self.cases.append((name, fn))
            return fn
        return wrap

    def main(self):
        print(f"1..{len(self.cases)}")
        failed = 0
        for i, (name, fn) in enumerate(self.cases, 1):
            try:
                ok, detail = fn()
            except Exception as e:  # a crash fails the case, with its reason
                ok, detail = False, repr(e)
            print(f"{'ok' if ok else 'not ok'} {i} - {name}")
            if not ok:
                failed += 1
                for line in str(detail).splitlines() or [""]:
                    print(f"#   {line}")
        return 1 if failed else 0
