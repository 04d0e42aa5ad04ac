"""Tests of agentcgroup_client against a real acgd, whose socket is $ACG_SOCKET
(test/runtime/clients.test.ts starts one and runs this file), plus the shape
checks on answers built by hand. Run: python3 -m unittest test_client"""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agentcgroup_client import (AcgdError, AgentCgroupClient, ProtocolError, CALL_REPORT,  # noqa: E402
                                check_shape)


class ShapeTest(unittest.TestCase):
    def test_rejects_wrong_types_and_missing_fields(self):
        with self.assertRaisesRegex(ProtocolError, 'field "durationMs" should be number'):
            check_shape("r", {"id": "c", "rule": "r", "class": "c", "durationMs": "1", "memoryPeakBytes": None,
                              "cpuUsageUsec": None, "oomKilled": False, "advice": None}, CALL_REPORT)
        with self.assertRaisesRegex(ProtocolError, 'missing field "rule"'):
            check_shape("r", {"id": "c"}, CALL_REPORT)
        with self.assertRaisesRegex(ProtocolError, "expected an object"):
            check_shape("r", [1], CALL_REPORT)


@unittest.skipUnless(os.environ.get("ACG_SOCKET"), "needs a running acgd at $ACG_SOCKET")
class DaemonTest(unittest.TestCase):
    def test_call_lifecycle(self):
        with AgentCgroupClient.connect() as acg:
            call = acg.start_call(["pytest", "-x"], agent="py1", tool="Bash", label="py:1")
            self.assertEqual((call["rule"], call["label"]), ("tests", "py:1"))
            proc = subprocess.Popen(["sleep", "0.2"])
            with open(os.path.join(call["cgroup"], "cgroup.procs"), "w") as f:
                f.write(str(proc.pid))
            proc.wait()
            report = acg.end_call(call["call"])
            self.assertEqual(report["id"], call["call"])
            self.assertGreaterEqual(report["durationMs"], 0)
            status = acg.status()
            self.assertIn("default/py1", [a["agent"] for a in status["agents"]])

    def test_errors(self):
        with AgentCgroupClient.connect() as acg:
            with self.assertRaises(AcgdError) as e:
                acg.end_call("call-none")
            self.assertEqual(e.exception.code, "not_found")
            with self.assertRaises(TypeError):
                acg.start_call([])
        with self.assertRaisesRegex(ProtocolError, "not reachable"):
            AgentCgroupClient.connect("/nonexistent/acgd.sock")


if __name__ == "__main__":
    unittest.main()
