"""The websocket's bad messages get an error event and the socket stays open, like the API's.

A deeply nested message used to raise RecursionError inside the consumer (the socket died);
NaN and other non-JSON numbers were accepted. Both now get `invalid_json`.
"""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    "message",
    [
        '{"type": "snapshot", "ids": ' + "[" * 1500 + "]" * 1500 + "}",
        '{"type": "snapshot", "ids": [NaN]}',
        '{"type": "snapshot", "ids": [1e309]}',
        '{"type": "snap\\u0000shot"}',
    ],
    ids=["nested-1500-deep", "nan", "1e309", "nul"],
)
def test_a_malformed_message_gets_invalid_json_and_the_socket_stays_open(user, message):
    token, _ = Token.objects.get_or_create(user=user)
    headers = [
        (b"host", b"testserver"),
        (b"origin", b"http://testserver"),
        (b"authorization", f"Token {token.key}".encode()),
    ]

    async def scenario():
        ws = WebsocketCommunicator(application, "/ws/me/", headers=headers)
        connected, _ = await ws.connect(timeout=5)
        assert connected
        await ws.receive_json_from(timeout=5)  # the first snapshot
        await ws.send_to(text_data=message)
        error = await ws.receive_json_from(timeout=5)
        await ws.send_json_to({"type": "snapshot"})
        still_open = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return error, still_open

    error, still_open = async_to_sync(scenario)()
    assert error["type"] == "error" and error["code"] == "invalid_json" and error["detail"]
    assert still_open["type"] == "snapshot"
