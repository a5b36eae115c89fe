# SPDX-License-Identifier: BSD-3-Clause
"""What the Python tests share, imported as a package (meson puts
tests/pylib on PYTHONPATH; tests/meson.build):

  rpc           the JSON-RPC 2.0 client (one line per message, Unix socket):
                Connection, call/request one-shot, RpcError, Subscription
  csum          the Internet checksum and the pseudo-headers
  frames        Ethernet/IPv4 UDP and TCP frames built byte by byte
  pcap          classic pcap files, read and written
  netns         commands in namespaces, veth pairs, a namespace of the
                test's own (network or mount)
  proc          waiting for a condition, daemons with a log each, stopping
                them, their memory and descriptors
  checks        counted checks (many packets or phases, every failure named)
  e2e           the topology of tools/netns-topology, the dataplanes and
                agents in it (tests/e2e, tests/dp, tests/fleet, tests/upgrade)
  agents, fleet_agents  the programs e2e runs inside the namespaces
  fleet         two edge nodes behind a BIRD ECMP router, each with its
                edgelb-cp and BIRD (tests/fleet, tests/upgrade)
  held          held downloads whose every byte names its backend: the
                pattern server and the pacing client (tests/e2e)
  pytest_plugin the options (--dp, --cp, ...) and fixtures of the pytest
                files, exit status 77 (meson: SKIP) when all skipped, and
                lines printed past pytest's capture (figures)

By hand, from the source tree (root for most):
  PYTHONPATH=tests/pylib python3 -m pytest -p edgelb_testlib.pytest_plugin \\
      tests/dp/test_dp_process.py --dp build/dataplane/dpdk/edgelb-dp ...
"""
