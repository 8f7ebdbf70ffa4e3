"""Where the kit leans on another library's internals, one module does, written against one
version (docs/architecture.md lists them). This test names that version and fails with one
line when the installed one differs: an upgrade is then a deliberate step (read the module
against the new release, run `make test-latest`, move the version here and in
constraints.txt), never a surprise in a stack trace."""

from __future__ import annotations

from importlib.metadata import version

import pytest

#: distribution -> (version prefix written against, the one module that leans on it, what).
WRITTEN_AGAINST = {
    "granian": ("2.8.", "mock_server/serving/granian_engine.py",
                "_granian.RSGIWorker/CallbackScheduler/SocketHolder/WorkerSignal"),
    "waitress": ("3.0.", "mock_server/serving/waitress_engine.py",
                 "server._map, server.trigger, task.ErrorTask, channel.HTTPChannel"),
    "pyjwt": ("2.", "mock_server/api/tokens.py",
              "a subclass of jwt.algorithms.HMACAlgorithm caching prepare_key"),
    "flask-cors": ("6.0.", "mock_server/serving/app.py",
                   "CORS(app) appends its after_request hook last; _cors takes it off to call "
                   "it only for requests with an Origin"),
    "pytest": ("9.", "contract_tests/conftest.py",
               "_pytest.junitxml.xml_key and LogXML.global_properties (drift rows, JUnit)"),
}


@pytest.mark.parametrize("distribution", sorted(WRITTEN_AGAINST))
def test_the_internals_leaned_on_are_the_version_written_against(distribution):
    prefix, module, what = WRITTEN_AGAINST[distribution]
    installed = version(distribution)
    if not installed.startswith(prefix):
        pytest.fail(f"{distribution} {installed} is installed, but {module} uses its internals "
                    f"({what}) as of {prefix}x: check them against {installed}, then update "
                    "WRITTEN_AGAINST", pytrace=False)


def test_flask_cors_hook_is_the_one_taken_back():
    """`_cors` pops the hook CORS() just added: it must be flask-cors's, and pass CORS on."""
    from envoy_events_kit.mock_server import create_app

    app = create_app({})
    answer = app.test_client().get("/events/connection_token",
                                   headers={"Origin": "http://localhost:5173"})
    assert answer.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert not any("cors" in getattr(f, "__module__", "")
                   for f in app.after_request_funcs.get(None, []))


def test_the_internals_are_there():
    """What the modules import or reach into exists in the installed versions."""
    import jwt.algorithms
    from _pytest.junitxml import LogXML, xml_key
    from granian import _granian
    from waitress import channel, server, task

    assert all(hasattr(_granian, n)
               for n in ("RSGIWorker", "CallbackScheduler", "SocketHolder", "WorkerSignal"))
    assert hasattr(task, "ErrorTask") and hasattr(channel, "HTTPChannel")
    assert callable(server.create_server)
    assert callable(jwt.algorithms.HMACAlgorithm.prepare_key)
    assert xml_key is not None and callable(LogXML.add_global_property)
