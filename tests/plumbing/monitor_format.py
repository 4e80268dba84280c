#!/usr/bin/python3
"""The monitors print the course's formats exactly (TAP)."""
import io
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "monitors"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import memory_monitor  # noqa: E402
import tapcases  # noqa: E402
import vcpu_monitor  # noqa: E402

CASES = tapcases.Cases()
case = CASES.add


@case("cpu human format")
def _():
    out = io.StringIO()
    vcpu_monitor.print_sample(7, [100.0, 0.0],
                              [["aos_vm3", "aos_vm2"], []], False, out)
    want = ("-" * 50 + "\n"
            "Iteration number :  7\n"
            "0 - usage: 100.0 | mapping ['aos_vm3', 'aos_vm2']\n"
            "1 - usage: 0.0 | mapping []\n")
    return out.getvalue() == want, out.getvalue()


@case("cpu machine format")
def _():
    out = io.StringIO()
    vcpu_monitor.print_sample(1, [55.5, 44.5], [["aos_vm1"], ["aos_vm2"]],
                              True, out)
    want = ("usage,0,55.5\nmapping,0,aos_vm1\n"
            "usage,1,44.5\nmapping,1,aos_vm2\n")
    return out.getvalue() == want, out.getvalue()


@case("cpu usage attribution")
def _():
    before = {"a": [(0, 1_000_000_000, 0)], "b": [(0, 0, 1)]}
    after = {"a": [(0, 2_000_000_000, 1)], "b": [(0, 500_000_000, 1)],
             "new": [(0, 9, 0)]}
    usage, mapping = vcpu_monitor.pcpu_usage(before, after, 1.0, 2)
    ok = (abs(usage[0]) < 1e-9 and abs(usage[1] - 150.0) < 1e-9
          and mapping == [[], ["a", "b"]])
    return ok, (usage, mapping)


@case("memory human format")
def _():
    out = io.StringIO()
    memory_monitor.print_sample(3, [("aos_vm3", 512.0, 196.73046875)], False,
                                out)
    want = ("\n" + "-" * 50 + "\n"
            "Iteration number :  3\n"
            "Memory (VM: aos_vm3)  Actual [512.0], Unused: [196.73046875]\n")
    return out.getvalue() == want, out.getvalue()


@case("memory machine format")
def _():
    out = io.StringIO()
    memory_monitor.print_sample(1, [("aos_vm1", 1024.0, 100.5)], True, out)
    want = ("\n" + "-" * 50 + "\n" "Iteration number :  1\n"
            "memory,aos_vm1,1024.0,100.5\n")
    return out.getvalue() == want, out.getvalue()


if __name__ == "__main__":
    sys.exit(CASES.main())
