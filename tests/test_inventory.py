"""Inventories and ``--limit``: each case is input text and the exact targets (or error) it must give."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdiag.inventory import Inventory, InventoryError, Target, load_inventory
from netdiag.inventory.address import expand_ranges
from netdiag.inventory.load import detect_format

U = ("ungrouped",)


def T(name: str, **fields: Any) -> Target:
    """A Target with this module's most common defaults (ssh, ungrouped)."""
    fields.setdefault("groups", U)
    return Target(name=name, **fields)


def load(tmp_path: Path, text: str, filename: str = "hosts") -> Inventory:
    path = tmp_path / filename
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_inventory([str(path)])


def load_error(tmp_path: Path, text: str, filename: str = "hosts") -> str:
    with pytest.raises(InventoryError) as info:
        load(tmp_path, text, filename)
    return str(info.value).replace(str(tmp_path) + "/", "")


# --- plain host lists -------------------------------------------------------------------------

PLAIN_CASES = {
    "every target form": (
        """
        # the fleet
        web-17
        alice@db-2
        web-18:2222   # a tunnel

        bob@cache-1:2200
        [2001:db8::5]:22
        2001:db8::6
        carol@[2001:db8::7]:2022
        [fe80::1%eth0]:22
        """,
        [
            T("web-17"),
            T("db-2", user="alice"),
            T("web-18:2222", host="web-18", port=2222),
            T("cache-1:2200", host="cache-1", port=2200, user="bob"),
            T("[2001:db8::5]:22", host="2001:db8::5", port=22),
            T("2001:db8::6"),
            T("[2001:db8::7]:2022", host="2001:db8::7", port=2022, user="carol"),
            T("[fe80::1%eth0]:22", host="fe80::1%eth0", port=22),
        ],
    ),
    "loopback is local unless a port asks for ssh": (
        "localhost\n127.0.0.1\n::1\n127.0.0.1:2201\n127.0.0.2\n",
        [
            T("localhost", connection="local"),
            T("127.0.0.1", connection="local"),
            T("::1", connection="local"),
            T("127.0.0.1:2201", host="127.0.0.1", port=2201),
            T("127.0.0.2"),
        ],
    ),
    "a repeated line is one target; tunnels to one address stay apart": (
        "web-1\nweb-1\n127.0.0.1:2201\n127.0.0.1:2202\n",
        [
            T("web-1"),
            T("127.0.0.1:2201", host="127.0.0.1", port=2201),
            T("127.0.0.1:2202", host="127.0.0.1", port=2202),
        ],
    ),
    "a hash inside a name is not a comment; one after a space is": (
        "web#1\nweb-2 #note\n#web-3\n",
        [T("web#1"), T("web-2")],
    ),
}


@pytest.mark.parametrize("text, expected", PLAIN_CASES.values(), ids=PLAIN_CASES.keys())
def test_plain(tmp_path: Path, text: str, expected: list[Target]) -> None:
    assert detect_format(textwrap.dedent(text)) == "plain"
    assert list(load(tmp_path, text).targets) == expected


def test_root_at_localhost_is_ssh(tmp_path: Path) -> None:
    (target,) = load(tmp_path, "root@localhost\n").targets
    assert target == T("localhost", user="root", connection="ssh")


PLAIN_ERRORS = {
    "port zero": ("web-1\nweb-17:0\n", "hosts:2: bad port '0' (expected 1-65535)"),
    "port too big": ("web-17:99999\n", "hosts:1: bad port '99999' (expected 1-65535)"),
    "port not a number": ("web-17:ssh\n", "hosts:1: bad port 'ssh' (expected 1-65535)"),
    "port in unicode digits": ("web-17:٢٢\n", "hosts:1: bad port '٢٢' (expected 1-65535)"),
    "empty port": ("web-17:\n", "hosts:1: bad port '' (expected 1-65535)"),
    "unbracketed v6 with port": (
        "2001:db8::1:22x\n",
        "hosts:1: '2001:db8::1:22x' is not an IPv6 address (with a port, write [address]:port)",
    ),
    "brackets around a name": (
        "[web-17]:22\n",
        "hosts:1: '[web-17]:22': brackets must hold an IPv6 address, as in [2001:db8::1]:22",
    ),
    "junk after brackets": ("[::1]x\n", "hosts:1: '[::1]x': expected ':port' after ']'"),
    "no host after user": (
        "alice@\n",
        "hosts:1: 'alice@' is not a host target (host, user@host, host:port or [v6]:port)",
    ),
    "no user before @": ("@web\n", "hosts:1: bad user in '@web'"),
    "two @": ("a@b@c\n", "hosts:1: 'a@b@c' is not a host target (host, user@host, host:port or [v6]:port)"),
    "user with password": ("a:pw@web\n", "hosts:1: bad user in 'a:pw@web'"),
    "a path": (
        "web/17\n",
        "hosts:1: 'web/17' is not a host target (host, user@host, host:port or [v6]:port)",
    ),
    "conflicting users for one host": (
        "alice@web-1\nweb-2\nbob@web-1\n",
        "hosts:3: host 'web-1': ansible_user='bob' conflicts with 'alice' set at hosts:1",
    ),
    "empty file": ("# nothing yet\n\n", "no hosts in hosts"),
}


@pytest.mark.parametrize("text, message", PLAIN_ERRORS.values(), ids=PLAIN_ERRORS.keys())
def test_plain_errors(tmp_path: Path, text: str, message: str) -> None:
    assert load_error(tmp_path, text) == message


# --- Ansible INI ------------------------------------------------------------------------------

INI_CASES = {
    "groups, ranges, ports, vars, children": (
        """
        # ungrouped hosts come first
        localhost
        jump ansible_host=198.18.0.1 ansible_port=2222 ansible_user=ops

        [web]
        web[01:03].example.com
        db-[a:b] motd="hello world" ansible_ssh_private_key_file=~/.ssh/db
        [2001:db8::9]:2200

        [web:vars]
        ansible_become=yes
        tier=web # the front

        [prod:children]
        web

        [prod:vars]
        ansible_user=deploy
        tier=prod
        """,
        [
            T("localhost", connection="local"),
            T("jump", host="198.18.0.1", port=2222, user="ops"),
            *(
                T(
                    f"web0{i}.example.com",
                    user="deploy",
                    become=True,
                    groups=("prod", "web"),
                    vars=(("tier", "web"),),
                )
                for i in (1, 2, 3)
            ),
            *(
                T(
                    f"db-{c}",
                    user="deploy",
                    key_file="~/.ssh/db",
                    become=True,
                    groups=("prod", "web"),
                    vars=(("motd", "hello world"), ("tier", "web")),
                )
                for c in "ab"
            ),
            T(
                "2001:db8::9",
                port=2200,
                user="deploy",
                become=True,
                groups=("prod", "web"),
                vars=(("tier", "web"),),
            ),
        ],
    ),
    "host vars beat group vars; a child group beats its parent at any depth": (
        """
        [all:vars]
        v=all
        w=all
        x=all
        y=all
        z=all
        [top:children]
        mid
        [top:vars]
        w=top
        x=top
        y=top
        z=top
        [mid:children]
        leaf
        [mid:vars]
        x=mid
        y=mid
        z=mid
        [leaf]
        h1 z=host
        [leaf:vars]
        y=leaf
        z=leaf
        """,
        [
            T(
                "h1",
                groups=("leaf", "mid", "top"),
                vars=(("v", "all"), ("w", "top"), ("x", "mid"), ("y", "leaf"), ("z", "host")),
            )
        ],
    ),
    "at equal depth the later name wins, unless ansible_group_priority says otherwise": (
        """
        [alpha]
        h1
        h2
        [beta]
        h1
        h2 ansible_port=2202
        [alpha:vars]
        colour=alpha
        [beta:vars]
        colour=beta
        [gamma]
        h2
        [gamma:vars]
        colour=gamma
        ansible_group_priority=-5
        """,
        [
            T("h1", groups=("alpha", "beta"), vars=(("colour", "beta"),)),
            T("h2", port=2202, groups=("alpha", "beta", "gamma"), vars=(("colour", "beta"),)),
        ],
    ),
    "children are recursive and may be declared after use": (
        """
        [world:children]
        europe
        [europe:children]
        paris
        [paris]
        p1
        [world:vars]
        ansible_port=2200
        """,
        [T("p1", port=2200, groups=("europe", "paris", "world"))],
    ),
    "[all] hosts are ungrouped; ungrouped vars apply to them only": (
        """
        [all]
        a1
        [g]
        g1
        [ungrouped:vars]
        lonely=yes
        """,
        [T("a1", vars=(("lonely", "yes"),)), T("g1", groups=("g",))],
    ),
    "a host listed twice merges its vars": (
        """
        [a]
        h ansible_user=ops x=1
        [b]
        h ansible_user=ops y=2
        """,
        [T("h", user="ops", groups=("a", "b"), vars=(("x", "1"), ("y", "2")))],
    ),
    "ranges: letters, steps, several at once, with a port": (
        """
        r[a:c]
        s[0:10:5]
        t[1:2]-[x:y]:2022
        u[:2]
        """,
        [
            T("ra"),
            T("rb"),
            T("rc"),
            T("s0"),
            T("s5"),
            T("s10"),
            *(T(f"t{n}-{c}", port=2022) for n in "12" for c in "xy"),
            T("u0"),
            T("u1"),
            T("u2"),
        ],
    ),
    "IPv6 forms": (
        """
        2001:db8::1 ansible_user=v6
        [2001:db8::2]
        [2001:db8::3]:2222
        named ansible_host=2001:db8::4
        """,
        [
            T("2001:db8::1", user="v6"),
            T("2001:db8::2"),
            T("2001:db8::3", port=2222),
            T("named", host="2001:db8::4"),
        ],
    ),
    "connection vars: local, ssh, become, old aliases": (
        """
        localhost ansible_connection=ssh
        box ansible_connection=local ansible_become=False
        old ansible_ssh_host=198.18.0.2 ansible_ssh_port=2200 ansible_ssh_user=u ansible_private_key_file=k
        both ansible_host=198.18.0.3 ansible_ssh_host=198.18.0.4
        fq ansible_connection=ansible.builtin.paramiko_ssh ansible_become=on
        """,
        [
            T("localhost", connection="ssh"),
            T("box", connection="local", become=False),
            T("old", host="198.18.0.2", port=2200, user="u", key_file="k"),
            T("both", host="198.18.0.3"),
            T("fq", become=True),
        ],
    ),
    "quoted group var values keep their spaces": (
        """
        [g]
        h
        [g:vars]
        banner="a # b ; c"
        plain=x y z
        single='it''s'
        """,
        [T("h", groups=("g",), vars=(("banner", "a # b ; c"), ("plain", "x y z"), ("single", "its")))],
    ),
}


@pytest.mark.parametrize("text, expected", INI_CASES.values(), ids=INI_CASES.keys())
def test_ini(tmp_path: Path, text: str, expected: list[Target]) -> None:
    assert detect_format(textwrap.dedent(text)) == "ini"
    assert list(load(tmp_path, text, "hosts.ini").targets) == expected


def test_ini_groups(tmp_path: Path) -> None:
    inventory = load(tmp_path, INI_CASES["groups, ranges, ports, vars, children"][0], "hosts.ini")
    groups = inventory.groups
    assert list(groups) == ["all", "ungrouped", "web", "prod"]
    assert groups["ungrouped"].hosts == ("localhost", "jump")
    assert groups["prod"].children == ("web",)
    assert groups["prod"].hosts == groups["web"].hosts
    assert len(groups["web"].hosts) == 6
    assert groups["all"].hosts == tuple(t.name for t in inventory.targets)
    assert groups["prod"].vars == (("ansible_user", "deploy"), ("tier", "prod"))
    assert inventory.sources == (str(tmp_path / "hosts.ini"),)


INI_ERRORS = {
    "space in a section": ("[web]\nw1\n[web servers]\n", "hosts:3: bad section header '[web servers]'"),
    "double bracket": ("[web]]\n", "hosts:1: bad section header '[web]]'"),
    "unknown section type": ("[web]\nw\n[web:child]\nx\n", "hosts:3: section [web:child] has unknown type"),
    "vars line without =": (
        "[web]\nw\n[web:vars]\nx=1\nnovalue\n",
        "hosts:5: expected key=value in [web:vars]",
    ),
    "vars line without key": ("[web]\nw\n[web:vars]\n=1\n", "hosts:4: expected key=value in [web:vars]"),
    "bad quoting in vars": ("[g]\nh\n[g:vars]\nx='a' 'b'\n", "hosts:4: x: expected one quoted value"),
    "host token without =": (
        "[web]\nw1\nw2 oops\n",
        "hosts:3: expected key=value after the host name, got 'oops'",
    ),
    "unclosed quote": ('w1 motd="never closed\n', "hosts:1: cannot split host line: No closing quotation"),
    "bad port var": ("[g]\nh ansible_port=abc\n", "hosts:2: bad port 'abc'"),
    "bad port suffix": ("[g]\nh:70000\n", "hosts:2: bad port '70000'"),
    "bad port in group vars": ("[g]\nh\n[g:vars]\nansible_port=22x\n", "hosts:4: bad port '22x'"),
    "unknown connection": (
        "[g]\nh ansible_connection=winrm\n",
        "hosts:2: ansible_connection='winrm' is not supported",
    ),
    "not a boolean": ("[g]\nh ansible_become=maybe\n", "hosts:2: ansible_become='maybe' is not a boolean"),
    "empty user": ("[g]\nh ansible_user=\n", "hosts:2: ansible_user is empty"),
    "bad priority": (
        "[g]\nh\n[g:vars]\nansible_group_priority=high\n",
        "hosts:4: ansible_group_priority='high'",
    ),
    "undefined child": (
        "[a]\nh\n[p:children]\na\nghost\n",
        "hosts:5: [p:children] names undefined group 'ghost'",
    ),
    "vars for an undefined group": (
        "[a]\nh\n\n[ghost:vars]\nx=1\n",
        "hosts:4: [ghost:vars] is for undefined group",
    ),
    "bad child name": ("[a]\nh\n[p:children]\na b\n", "hosts:4: expected a group name in [p:children]"),
    "cycle": (
        "[a:children]\nb\n[b:children]\nc\n[c:children]\na\n[c]\nh\n",
        "hosts:6: making 'a' a child of 'c' creates a cycle",
    ),
    "self child": ("[a]\nh\n[a:children]\na\n", "hosts:4: making 'a' a child of 'a' creates a cycle"),
    "all as a child": ("[a]\nh\n[a:children]\nall\n", "hosts:4: 'all' cannot be a child group"),
    "range backwards": ("[g]\nweb[3:1]\n", "hosts:2: 'web[3:1]': range begins after it ends"),
    "range widths": (
        "[g]\nweb[01:3]\n",
        "hosts:2: 'web[01:3]': zero-padded range bounds must have equal width",
    ),
    "range unclosed": ("[g]\nweb[1:2\n", "hosts:2: 'web[1:2': unbalanced brackets"),
    "range mixed": ("[g]\nweb[a:3]\n", "hosts:2: 'web[a:3]': range bounds must be numbers or single letters"),
    "range step zero": ("[g]\nweb[1:5:0]\n", "hosts:2: 'web[1:5:0]': bad range step '0'"),
    "range without end": ("[g]\nweb[1:]\n", "hosts:2: 'web[1:]': a range needs an end"),
    "range too big": ("[g]\nweb[0:999999]\n", "hosts:2: 'web[0:999999]' expands to more than 100000 hosts"),
    "ranges multiply past the cap": (
        "[g]\nw[0:999]-[0:999]\n",
        "hosts:2: 'w[0:999]-[0:999]' expands to more",
    ),
    "user@host in INI": ("[g]\nalice@h\n", "hosts:2: 'alice@h': user@host belongs in plain host lists"),
    "host moved to another port": (
        "[a]\nh ansible_port=22\n[b]\nh:2222\n",
        "hosts:4: host 'h': ansible_port='2222' conflicts with '22' set at hosts:2",
    ),
    "host moved to another address": (
        "[a]\nh ansible_host=198.18.0.1\n[b]\nh ansible_host=198.18.0.2\n",
        "hosts:4: host 'h': ansible_host='198.18.0.2' conflicts with '198.18.0.1' set at hosts:2",
    ),
    "not UTF-8": (None, "hosts:3: not UTF-8 text"),
}


@pytest.mark.parametrize("text, message", INI_ERRORS.values(), ids=INI_ERRORS.keys())
def test_ini_errors(tmp_path: Path, text: str | None, message: str) -> None:
    if text is None:
        (tmp_path / "hosts").write_bytes(b"[g]\nh1\nh\xff2\n")
        with pytest.raises(InventoryError) as info:
            load_inventory([str(tmp_path / "hosts")])
        error = str(info.value).replace(str(tmp_path) + "/", "")
    else:
        error = load_error(tmp_path, text)
    assert error.startswith(message), error


# --- Ansible YAML -----------------------------------------------------------------------------

YAML_CASES = {
    "nested groups, host vars, typed values": (
        """
        all:
          vars:
            ansible_user: deploy
            tier: base
          hosts:
            jump:
              ansible_host: 198.18.0.1
              ansible_port: 2222
          children:
            web:
              vars:
                ansible_become: true
                tier: web
              hosts:
                web[1:2]:
                web3:2200:
                  tier: special
                  tags: [a, b]
                  limits: {nofile: 1024}
                  empty:
              children:
                canary:
                  hosts:
                    web1:
                  vars:
                    tier: canary
        """,
        [
            T("jump", host="198.18.0.1", port=2222, user="deploy", vars=(("tier", "base"),)),
            T("web1", user="deploy", become=True, groups=("canary", "web"), vars=(("tier", "canary"),)),
            T("web2", user="deploy", become=True, groups=("web",), vars=(("tier", "web"),)),
            T(
                "web3",
                port=2200,
                user="deploy",
                become=True,
                groups=("web",),
                vars=(
                    ("empty", ""),
                    ("limits", '{"nofile": 1024}'),
                    ("tags", '["a", "b"]'),
                    ("tier", "special"),
                ),
            ),
        ],
    ),
    "top-level groups other than all; null groups and hosts": (
        """
        ---
        db:
          hosts:
            db1:
            "[2001:db8::1]:5432":
        empty:
        cache:
          hosts:
        ungrouped:
          hosts:
            localhost:
        """,
        [
            T("db1", groups=("db",)),
            T("2001:db8::1", port=5432, groups=("db",)),
            T("localhost", connection="local"),
        ],
    ),
    "anchors, merge keys, and tags only Ansible knows": (
        """
        all:
          vars: &base
            ansible_user: ops
          hosts:
            h1:
              <<: *base
              ansible_port: 2201
              secret: !vault |
                $ANSIBLE_VAULT;1.1;AES256
                6162
        """,
        [T("h1", port=2201, user="ops", vars=(("secret", "$ANSIBLE_VAULT;1.1;AES256\n6162\n"),))],
    ),
    "JSON is YAML too": (
        '{"all": {"hosts": {"j1": {"ansible_become": "no"}}}}',
        [T("j1", become=False)],
    ),
}


@pytest.mark.parametrize("text, expected", YAML_CASES.values(), ids=YAML_CASES.keys())
def test_yaml(tmp_path: Path, text: str, expected: list[Target]) -> None:
    assert detect_format(textwrap.dedent(text)) == "yaml"
    assert list(load(tmp_path, text).targets) == expected


YAML_ERRORS = {
    "hosts as a list": ("all:\n  hosts:\n    - web1\n", "hosts:3: all.hosts: expected a mapping"),
    "hosts without hosts:": ("all:\n  web1:\n", "hosts:2: all.web1: unexpected key 'web1'"),
    "bad port": (
        "all:\n  hosts:\n    h:\n      ansible_port: 70000\n",
        "hosts:4: all.hosts.h.ansible_port: bad port '70000'",
    ),
    "bad port in a nested group": (
        "all:\n  children:\n    web:\n      vars:\n        ansible_port: [1]\n",
        "hosts:5: all.children.web.vars.ansible_port: bad port '[1]'",
    ),
    "bad connection": (
        "web:\n  hosts:\n    h:\n      ansible_connection: docker\n",
        "hosts:4: web.hosts.h.ansible_connection: ansible_connection='docker' is not supported",
    ),
    "syntax": ("all:\n  hosts:\n    h: [unclosed\n", "hosts:4: not valid YAML"),
    "top level a list": ("- all\n- web\n", "hosts:1: the top level must map group names to groups"),
    "group a scalar": ("all: web1\n", "hosts:1: all: a group must be a mapping"),
    "host value a list": (
        "all:\n  hosts:\n    h: [a]\n",
        "hosts:3: all.hosts.h: a host's value must be a mapping",
    ),
    "key a list": ("all:\n  hosts:\n    [a, b]: 1\n", "hosts:3: all.hosts: keys must be plain names"),
    "cycle": (
        "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n",
        "hosts:7: all.children.a.children.b.children.a: making 'a' a child of 'b' creates a cycle",
    ),
    "bad range in a host key": (
        "all:\n  hosts:\n    w[2:1]:\n",
        "hosts:3: all.hosts.w[2:1]: 'w[2:1]': range begins after",
    ),
    "yml suffix but not a mapping": ("just-a-host\n", "hosts.yml:1: the top level must map"),
}


@pytest.mark.parametrize("text, message", YAML_ERRORS.values(), ids=YAML_ERRORS.keys())
def test_yaml_errors(tmp_path: Path, text: str, message: str) -> None:
    filename = "hosts.yml" if message.startswith("hosts.yml") else "hosts"
    error = load_error(tmp_path, text, filename)
    assert error.startswith(message), error


# --- format detection, sources, the command line ----------------------------------------------

DETECT_CASES = {
    "plain": ("web1\nalice@web2:22\n[::1]:22\n", "plain"),
    "ini by section": ("web1\n[web]\nweb2\n", "ini"),
    "ini by host vars": ("web1 ansible_port=22\n", "ini"),
    "ini by range": ("web[1:3]\n", "ini"),
    "yaml by document start": ("# x\n---\nall: {}\n", "yaml"),
    "yaml by first key": ("all:\n  hosts: {}\n", "yaml"),
    "empty": ("", "plain"),
}


@pytest.mark.parametrize("text, kind", DETECT_CASES.values(), ids=DETECT_CASES.keys())
def test_detect_format(text: str, kind: str) -> None:
    assert detect_format(text) == kind


def test_ini_content_wins_over_txt_suffix(tmp_path: Path) -> None:
    assert load(tmp_path, "[g]\nh\n", "fleet.txt").targets == (T("h", groups=("g",)),)


def test_command_line_targets_and_files_merge(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[web]\nweb-17 ansible_user=ops\n", encoding="utf-8")
    inventory = load_inventory([str(path), "web-17", "alice@db-2:2200", "[::1]:2201", "2001:db8::8"])
    assert list(inventory.targets) == [
        T("web-17", user="ops", groups=("web",)),
        T("db-2:2200", host="db-2", port=2200, user="alice"),
        T("[::1]:2201", host="::1", port=2201),
        T("2001:db8::8"),
    ]
    assert inventory.sources == (str(path), "web-17", "alice@db-2:2200", "[::1]:2201", "2001:db8::8")


SOURCE_ERRORS = {
    "missing file by suffix": ("missing.ini", "missing.ini: no such inventory file"),
    "missing file by slash": ("inv/hosts", "inv/hosts: no such inventory file"),
    "missing dotfile": ("./hosts", "./hosts: no such inventory file"),
    "not a target": ("web 17", "'web 17' is no inventory file, nor a host target: command line:"),
    "bad port on the command line": ("web:0", "'web:0' is no inventory file, nor a host target"),
    "NUL byte": ("web\x00", "'web\\x00' is no inventory file, nor a host target"),
    "newline": ("web\n17", "'web\\n17' is no inventory file, nor a host target"),
}


@pytest.mark.parametrize("source, message", SOURCE_ERRORS.values(), ids=SOURCE_ERRORS.keys())
def test_source_errors(source: str, message: str) -> None:
    with pytest.raises(InventoryError) as info:
        load_inventory([source])
    assert str(info.value).startswith(message), str(info.value)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="is a directory"):
        load_inventory([str(tmp_path)])


def test_nothing_at_all_is_refused() -> None:
    with pytest.raises(InventoryError, match="no hosts"):
        load_inventory([])


def test_range_expansion_keeps_zero_padding() -> None:
    assert expand_ranges("n[08:11].x") == ["n08.x", "n09.x", "n10.x", "n11.x"]
    assert expand_ranges("plain") == ["plain"]


# --- hostile names and values -----------------------------------------------------------------


def test_hostile_ini_survives_verbatim(tmp_path: Path) -> None:
    text = (
        "[web]\n"
        "'web$(reboot)' motd=\"a;b `id` $(rm -rf /) 'q'\"\n"
        'host;rm ansible_user=\'x"; reboot\' ansible_ssh_private_key_file="/k/$(id)"\n'
        "ünï.example ansible_host=ünï.example path='$HOME\\x'\n"
        "[web:vars]\n"
        "cmd=`touch /tmp/pwned` && echo {{ lookup('pipe', 'id') }}\n"
    )
    inventory = load(tmp_path, text)
    cmd = ("cmd", "`touch /tmp/pwned` && echo {{ lookup('pipe', 'id') }}")
    assert list(inventory.targets) == [
        T("web$(reboot)", groups=("web",), vars=(cmd, ("motd", "a;b `id` $(rm -rf /) 'q'"))),
        T("host;rm", user='x"; reboot', key_file="/k/$(id)", groups=("web",), vars=(cmd,)),
        T("ünï.example", host="ünï.example", groups=("web",), vars=(cmd, ("path", "$HOME\\x"))),
    ]
    assert [t.name for t in inventory.select("host;rm")] == ["host;rm"]


def test_hostile_yaml_and_command_line_survive_verbatim(tmp_path: Path) -> None:
    text = (
        "all:\n"
        "  hosts:\n"
        '    "evil\\nname":\n'
        '      note: "line1\\nline2\\u0000"\n'
        '    "`id`":\n'
        '      ansible_user: "$(whoami)"\n'
    )
    path = tmp_path / "inv.yml"
    path.write_text(text, encoding="utf-8")
    inventory = load_inventory([str(path), "$(reboot)", "o'brien@x;y"])
    assert list(inventory.targets) == [
        T("evil\nname", vars=(("note", "line1\nline2\x00"),)),
        T("`id`", user="$(whoami)"),
        T("$(reboot)"),
        T("x;y", user="o'brien"),
    ]


# --- --limit ----------------------------------------------------------------------------------

LIMIT_INVENTORY = """
[web]
web1
web2
[db]
db1
db2
[staging]
web3
[prod:children]
web
db
"""

LIMIT_CASES = {
    "none is everything": (None, ["web1", "web2", "db1", "db2", "web3"]),
    "a name": ("web2", ["web2"]),
    "a group": ("db", ["db1", "db2"]),
    "a parent group": ("prod", ["web1", "web2", "db1", "db2"]),
    "all": ("all", ["web1", "web2", "db1", "db2", "web3"]),
    "star": ("*", ["web1", "web2", "db1", "db2", "web3"]),
    "a glob over groups and names": ("web*", ["web1", "web2", "web3"]),
    "a glob class": ("db[2-9]", ["db2"]),
    "union in the order given": ("db:web1", ["db1", "db2", "web1"]),
    "comma list": ("web3,db2,web1", ["web3", "db2", "web1"]),
    "comma list with spaces": (" web3 , db2 ", ["web3", "db2"]),
    "union deduplicates": ("web:prod:web1", ["web1", "web2", "db1", "db2"]),
    "intersection": ("prod:&web*", ["web1", "web2"]),
    "exclusion": ("prod:!db1", ["web1", "web2", "db2"]),
    "exclusion of a group": ("all:!prod", ["web3"]),
    "only an exclusion starts from all": ("!web", ["db1", "db2", "web3"]),
    "only an intersection starts from all": ("&staging", ["web3"]),
    "modifiers apply after unions, wherever written": ("!db1:db:&prod", ["db2"]),
    "regex anchored at the start": ("~(web|db)1", ["web1", "db1"]),
    "regex, commas": ("~db.,staging", ["db1", "db2", "web3"]),
}


@pytest.mark.parametrize("limit, names", LIMIT_CASES.values(), ids=LIMIT_CASES.keys())
def test_limit(tmp_path: Path, limit: str | None, names: list[str]) -> None:
    inventory = load(tmp_path, LIMIT_INVENTORY)
    assert [t.name for t in inventory.select(limit)] == names


LIMIT_ERRORS = {
    "unknown name": ("nope", "--limit 'nope' matches no host"),
    "one unknown part of a union": ("web:nope", "--limit 'nope' matches no host"),
    "unknown exclusion (a typo)": ("all:!wbe", "--limit '!wbe' matches no host"),
    "disjoint intersection": ("web:&db", "--limit 'web:&db' matches no host"),
    "excluding everything": ("web:!prod", "--limit 'web:!prod' matches no host"),
    "regex is anchored": ("~b1", "--limit '~b1' matches no host"),
    "bad regex": ("~web[", "--limit '~web[': bad regular expression"),
    "empty": ("", "--limit '' matches no host"),
    "bare modifier": ("web:!", "--limit part '!' is empty"),
    "case matters": ("WEB1", "--limit 'WEB1' matches no host"),
}


@pytest.mark.parametrize("limit, message", LIMIT_ERRORS.values(), ids=LIMIT_ERRORS.keys())
def test_limit_errors(tmp_path: Path, limit: str, message: str) -> None:
    inventory = load(tmp_path, LIMIT_INVENTORY)
    with pytest.raises(InventoryError) as info:
        inventory.select(limit)
    assert str(info.value).startswith(message), str(info.value)


ADDRESS_LIMITS = {
    "v4 with port": ("127.0.0.1:2202", ["127.0.0.1:2202"]),
    "bracketed v6 with port": ("[::1]:2201", ["[::1]:2201"]),
    "bare v6": ("2001:db8::7", ["2001:db8::7"]),
    "excluded address": ("all:!2001:db8::7", None),
    "comma list of addresses": ("127.0.0.1:2202,[::1]:2201", ["127.0.0.1:2202", "[::1]:2201"]),
    "glob over addresses": ("127.*", ["127.0.0.1:2202"]),
    "exclusion written first": ("!127.0.0.1:2202", ["[::1]:2201", "2001:db8::7"]),
}


@pytest.mark.parametrize("limit, names", ADDRESS_LIMITS.values(), ids=ADDRESS_LIMITS.keys())
def test_limit_on_addresses(limit: str, names: list[str] | None) -> None:
    inventory = load_inventory(["[::1]:2201", "127.0.0.1:2202", "2001:db8::7"])
    if names is None:  # Ansible splits an unbracketed v6 address after other parts: write it with commas
        with pytest.raises(InventoryError, match="matches no host"):
            inventory.select(limit)
    else:
        assert [t.name for t in inventory.select(limit)] == names


# --- properties -------------------------------------------------------------------------------

_INVENTORY_ALPHABET = st.sampled_from([*"abcw01239:[]=@#;'\"\\ \t\n.-_*!&~,$()`", "ü", "\x00", "\r"])
_INVENTORY_TEXT = st.one_of(
    st.text(alphabet=_INVENTORY_ALPHABET, max_size=120),
    st.lists(
        st.sampled_from(
            ["[g]", "[g:vars]", "[g:children]", "h", "h:22", "a=1", "w[1:3]", "x", "[::1]:2", "#c"]
        ),
        max_size=12,
    ).map("\n".join),
    st.text(max_size=80),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_INVENTORY_TEXT)
def test_any_text_loads_or_raises_inventory_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "random"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        inventory = load_inventory([str(path)])
    except InventoryError as e:
        assert str(e).startswith(str(path)) or str(e).startswith("no hosts")
    else:
        assert inventory.targets
        assert all(isinstance(t, Target) and t.name for t in inventory.targets)


@settings(max_examples=200, deadline=None)
@given(limit=st.lists(st.sampled_from([*"webd12*?!&~:,[]()| ^$.", "all", "web1"]), max_size=20).map("".join))
def test_any_limit_selects_or_raises_inventory_error(limit: str) -> None:
    inventory = load_inventory(["web1", "web2", "db1"])
    try:
        chosen = inventory.select(limit)
    except InventoryError:
        return
    assert chosen
    assert len({t.name for t in chosen}) == len(chosen)
    assert set(chosen) <= set(inventory.targets)


def test_targets_are_frozen() -> None:
    target = T("web-1")
    with pytest.raises(AttributeError):
        target.name = "other"  # type: ignore[misc]
    assert replace(target, port=22).port == 22
