"""The fleet baseline: a bare paramiko thread pool, collection only, no analysis.

``python -m benchmarks.paramiko_pool KEY KNOWN_HOSTS FORKS ADDRESS...`` connects
to every address as root, checks its host key against KNOWN_HOSTS, runs the
three commands people type (``ss -tanpo; ss -ltn; cat /proc/net/netstat``) on
one exec channel and reads all output; prints the bytes received per host.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import paramiko

COMMAND = "ss -tanpo; ss -ltn; cat /proc/net/netstat"


def collect(address: str, key: paramiko.PKey, known_hosts: str) -> int:
    client = paramiko.SSHClient()
    client.load_host_keys(known_hosts)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(address, username="root", pkey=key, allow_agent=False, look_for_keys=False, timeout=10)
        _, stdout, _ = client.exec_command(COMMAND)
        data = stdout.read()
        stdout.channel.recv_exit_status()
        return len(data)
    finally:
        client.close()


def main() -> None:
    key_path, known_hosts, forks, *addresses = sys.argv[1:]
    key = paramiko.Ed25519Key.from_private_key_file(key_path)
    with ThreadPoolExecutor(int(forks)) as pool:
        sizes = list(pool.map(lambda a: collect(a, key, known_hosts), addresses))
    print(sum(sizes), len(sizes))


if __name__ == "__main__":
    main()
