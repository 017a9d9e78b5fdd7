"""``python -m chainrule.playground``: options, the address it prints, and a clean stop."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from chainrule.playground import DEFAULT_PORT, add_arguments


def test_options_and_defaults():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([])
    assert (args.port, args.host, args.no_browser, args.allow_origin) == (
        DEFAULT_PORT, "127.0.0.1", False, [])
    args = parser.parse_args(["--port", "9001", "--host", "0.0.0.0", "--no-browser",
                              "--allow-origin", "lab.local", "--allow-origin", "pc"])
    assert args.allow_origin == ["lab.local", "pc"] and args.port == 9001


@pytest.mark.skipif(sys.platform == "win32", reason="stops the server with SIGINT")
def test_module_serves_the_page_and_stops_on_ctrl_c():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "chainrule.playground", "--port", "0",
                             "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("chainrule playground: http://127.0.0.1:"), line
        url = line.split()[2]
        with urllib.request.urlopen(url, timeout=30) as page:
            assert b'data-testid="train"' in page.read()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def test_busy_port_is_a_clear_error(capsys):
    import socket

    from chainrule.playground.server import serve

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert serve("127.0.0.1", s.getsockname()[1], open_browser=False) == 1
    assert "cannot listen" in capsys.readouterr().err
