"""The bot's Bot API transport (telegram_app.bot.transport): python-telegram-bot's requests and errors over the
lean HTTP/1.1 client, against the stand-in and against small servers that answer the ways HTTP allows."""

import asyncio

import pytest
from telegram import Bot
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from telegram_app.bot.transport import BotApiRequest

TOKEN = "123456:TEST"


def _request(size: int = 8, pool_timeout: float = 10.0) -> BotApiRequest:
    return BotApiRequest(connection_pool_size=size, pool_timeout=pool_timeout, connect_timeout=5.0, read_timeout=5.0,
                         write_timeout=5.0)


def test_replies_errors_and_flood_answers_through_the_stand_in(standin):
    standin.add_chat(7)
    standin.add_chat(8)
    request = _request()
    assert request.lean

    async def scenario():
        async with Bot(TOKEN, base_url=f"{standin.url}/bot", request=request) as bot:
            sent = await bot.do_api_request("sendmessage", api_kwargs={
                "chat_id": 7, "text": "Open positions: ünïcode & signs = ok",
                "reply_markup": {"inline_keyboard": [[{"text": "Go", "callback_data": "go:1"}]]}})
            with pytest.raises(BadRequest, match="(?i)chat not found"):
                await bot.do_api_request("sendmessage", api_kwargs={"chat_id": 999_999, "text": "x"})
            standin.world.flood.force(count=1, retry_after=3)
            with pytest.raises(RetryAfter):
                await bot.do_api_request("sendmessage", api_kwargs={"chat_id": 7, "text": "refused"})
            again = await bot.do_api_request("sendmessage", api_kwargs={"chat_id": 8, "text": "after"})
            return sent, again, len(request._idle[("http", "127.0.0.1", standin.port)])

    sent, again, idle = asyncio.run(scenario())
    assert [m["text"] for m in standin.bot_messages(7)] == ["Open positions: ünïcode & signs = ok"]
    assert [m["text"] for m in standin.bot_messages(8)] == ["after"]
    assert sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "go:1"
    assert again["chat"]["id"] == 8 and again["text"] == "after"
    assert idle == 1  # four requests one after another: one kept-alive connection


async def _serve(answer):
    """A tiny HTTP server: ``answer(request_number, reader, writer)`` writes each answer; returns (server, port, seen)."""
    seen = []

    async def on_client(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int([h for h in head.decode().split("\r\n") if h.lower().startswith("content-length")][0]
                             .split(":")[1])
                seen.append((head.decode().split("\r\n")[0], await reader.readexactly(length)))
                if not await answer(len(seen), reader, writer):
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], seen


def test_chunked_answers_connection_close_and_a_server_closing_an_idle_connection():
    async def answer(n, reader, writer):
        if n == 1:  # chunked, kept alive
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
                         b"7\r\n{\"ok\":t\r\n6\r\nrue,\"r\r\nD\r\nesult\":\"one\"}\r\n0\r\n\r\n")
            await writer.drain()
            return True
        if n == 2:  # then the server closes the idle connection
            body = b'{"ok":true,"result":"two"}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            return False
        body = b'{"ok":true,"result":"three"}'  # Connection: close is honoured
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        return True

    async def scenario():
        server, port, seen = await _serve(answer)
        request = _request()
        bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)  # not initialized: no getMe
        async with request:
            one = await bot.do_api_request("sendmessage", api_kwargs={"chat_id": 1, "text": "a b"})
            two = await bot.do_api_request("sendmessage", api_kwargs={"chat_id": 1, "text": "c"})
            await asyncio.sleep(0.1)  # the loop sees the close of the idle connection
            three = await bot.do_api_request("sendmessage", api_kwargs={"chat_id": 1, "text": "d"})
            idle = sum(len(conns) for conns in request._idle.values())
        server.close()
        return one, two, three, seen, idle

    one, two, three, seen, idle = asyncio.run(scenario())
    assert (one, two, three) == ("one", "two", "three")
    assert [line for line, _ in seen] == [f"POST /bot{TOKEN}/sendmessage HTTP/1.1"] * 3
    assert seen[0][1] == b"chat_id=1&text=a+b"
    assert idle == 0  # the last answer said Connection: close


def test_a_broken_answer_is_a_network_error_and_the_pool_wait_is_bounded():
    async def scenario():
        gate = asyncio.Event()

        async def answer(n, reader, writer):
            if n == 1:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"ok\":")  # cut short
                await writer.drain()
                return False
            await gate.wait()  # the others hang until the test lets them go
            body = b'{"ok":true,"result":true}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            return True

        server, port, seen = await _serve(answer)
        request = _request(size=2, pool_timeout=0.3)
        bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)
        async with request:
            with pytest.raises(NetworkError) as broken:
                await bot.do_api_request("sendmessage", api_kwargs={"chat_id": 1, "text": "cut"})
            busy = [asyncio.create_task(bot.do_api_request("sendmessage", api_kwargs={"chat_id": 1, "text": f"slow {i}"}))
                    for i in range(2)]
            await asyncio.sleep(0.1)
            with pytest.raises(TimedOut, match="Pool timeout"):
                await bot.do_api_request("sendmessage", api_kwargs={"chat_id": 1, "text": "third"})
            gate.set()
            results = await asyncio.gather(*busy)
        server.close()
        return broken.value, results, seen

    broken, results, seen = asyncio.run(scenario())
    assert not isinstance(broken, TimedOut)
    assert results == [True, True]
    assert [body for _, body in seen] == [b"chat_id=1&text=cut", b"chat_id=1&text=slow+0", b"chat_id=1&text=slow+1"]


def _self_signed(tmp_path):
    """A certificate for 127.0.0.1 and the client context that trusts it alone."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=str(cert_file))


def test_https_verifies_the_certificate_and_keeps_the_connection(tmp_path):
    server_tls, client_tls = _self_signed(tmp_path)

    async def scenario():
        seen, peers = [], []

        async def on_client(reader, writer):
            peers.append(writer.get_extra_info("peername"))
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    writer.close()
                    return
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                seen.append(await reader.readexactly(length))
                body = b'{"ok":true,"result":{"n":%d}}' % len(seen)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()

        server = await asyncio.start_server(on_client, "127.0.0.1", 0, ssl=server_tls)
        port = server.sockets[0].getsockname()[1]
        trusting = BotApiRequest(connection_pool_size=8, pool_timeout=10.0, tls_context=client_tls)
        async with trusting:
            bot = Bot(TOKEN, base_url=f"https://127.0.0.1:{port}/bot", request=trusting)
            answers = [await bot.do_api_request("sendmessage", api_kwargs={"chat_id": 1, "text": t}) for t in "ab"]
        untrusting = _request()  # the default CA bundle does not know this certificate
        async with untrusting:
            bot = Bot(TOKEN, base_url=f"https://127.0.0.1:{port}/bot", request=untrusting)
            with pytest.raises(NetworkError):
                await bot.do_api_request("sendmessage", api_kwargs={"chat_id": 1, "text": "refused"})
        server.close()
        return answers, seen, peers

    answers, seen, peers = asyncio.run(scenario())
    assert answers == [{"n": 1}, {"n": 2}] and seen == [b"chat_id=1&text=a", b"chat_id=1&text=b"]
    assert len(peers) == 1  # one kept-alive connection for both answers; the refused client never completed a handshake
