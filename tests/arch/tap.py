"""The TAP report every check in tests/arch/ ends with."""


def report(checks, prefix=""):
    """Prints a plan and one test per (description, problems) pair: ok when
    problems is empty, else not ok with each problem as a comment line
    (after @prefix). Returns the exit status: 1 if any failed."""
    print("1..%d" % len(checks))
    failed = 0
    for n, (what, problems) in enumerate(checks, 1):
        if problems:
            failed += 1
            print("not ok %d - %s" % (n, what))
            for p in problems:
                print("# %s%s" % (prefix, p))
        else:
            print("ok %d - %s" % (n, what))
    return 1 if failed else 0
