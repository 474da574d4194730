"""The people of the peak bench (bench/peak.py): visitors, agents and customers writing mail.

Each is a real client of the real server: sockets as the widget and the console use them,
HTTP as the widget and the agents' ticket API do, SMTP as a customer's provider does. One
`Hour` replays a shop's hour of them and keeps what it measured in `Figures`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib
import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench import services
from bench.common import PASSWORD, ROOT, cpu_seconds, gather_limited, rss_bytes
from bench.pages import Pages

# Shop time: what people do, in seconds of the real hour (divided by the factor on the wall).
PAGE_VIEW_EVERY = 600.0  # a browsing visitor views a page every 10 minutes on average
CHECKOUT_SHARE = 0.1  # of page views, on /checkout/...: the proactive rule's pages
TYPING_PAUSE = 3.0  # between the suggest-as-you-type searches
ARTICLE_SHARE = 0.55  # of chats, questions the help centre answers
HELPED_SHARE = 0.6  # of those, "that helped"; the rest ask for a person
EMAIL_SHARE = 0.1  # of chats that ask for a person, the visitor leaves an email instead of waiting
EXCHANGES = 3  # visitor messages after the agent's first reply
VISITOR_THINK = 40.0
AGENT_THINK = 30.0
CUSTOMER_MAIL_THINK = 300.0  # the customer answers the confirmation after 5 minutes
DESK_THINK = 120.0  # an agent answers a customer's mail 2 minutes after it lands
FIRST_RESPONSE_TARGET = 60.0  # the site's first-response target, for Erlang C
CAP = 3  # chats an agent holds at once
# Wall time.
LATE_SECONDS = 1.0  # a message delivered later than this counts as late (10x the p99 budget)
MAIL_DOMAIN = "help.shop.example"
CUSTOMER_DOMAIN = "customers.example"

@dataclass(frozen=True)
class Shop:
    """One hour of a shop at its peak."""

    visitors: int
    chats_per_hour: int
    agents: int
    hour_seconds: float  # of wall time
    # Wall seconds between a visitor's page views. Not compressed with the hour: page views
    # at 60x would make the shop sixty times bigger (360 a second for 3,600 visitors, where
    # a real shop this size sees 6), as heartbeats are not compressed either.
    page_view_every: float = PAGE_VIEW_EVERY

    @property
    def factor(self) -> float:
        return 3600.0 / self.hour_seconds

    def at(self, load: float, agents: int) -> Shop:
        return Shop(round(self.visitors * load), round(self.chats_per_hour * load), agents,
                    self.hour_seconds, self.page_view_every)


@dataclass
class Figures:
    """What one replayed hour measured."""

    suggest: list[float] = field(default_factory=list)  # ms: first search -> suggestions
    delivery: list[float] = field(default_factory=list)  # ms: message sent -> peer has it
    page_views: list[float] = field(default_factory=list)  # ms per page view (all its requests)
    queue_wait: list[float] = field(default_factory=list)  # shop s: asked for a person -> assigned
    first_reply: list[float] = field(default_factory=list)  # shop s: asked -> first agent message
    handling: list[float] = field(default_factory=list)  # shop s: assigned -> closed
    mail: dict[str, list[float]] = field(default_factory=lambda: {
        "confirmation": [], "into ticket": [], "answer mailed": []})  # wall s
    chats: int = 0
    self_served: int = 0
    asked: int = 0  # chats that asked for a person
    left_email: int = 0
    proactive_shown: int = 0
    page_view_errors: int = 0
    unfinished: int = 0  # flows that did not finish before the drain ended
    errors: list[str] = field(default_factory=list)
    sent: dict[str, float] = field(default_factory=dict)  # client id -> when sent
    acked: set[str] = field(default_factory=set)
    late: int = 0
    mails_expected: int = 0
    mails_missing: int = 0


class Client:
    """One socket (a visitor's widget or an agent's console) and the frames it has seen."""

    def __init__(self, ws: ClientConnection, tracker: Callable[[], Figures]) -> None:
        self.ws = ws
        self.tracker = tracker
        self.frames: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.keep = False  # idle visitors drop what they hear (availability), chats keep it
        self.on_frame: Callable[[dict[str, Any]], None] | None = None
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "message" or kind == "ack":
                    self._track(frame, kind)
                if self.on_frame is not None:
                    self.on_frame(frame)
                if self.keep:
                    self.frames.append(frame)
                    self.arrived.set()
        except Exception:  # a socket closed under load shows up as flows that did not finish
            pass

    def _track(self, frame: dict[str, Any], kind: str) -> None:
        figures = self.tracker()
        if kind == "ack":
            figures.acked.add(str(frame.get("ref")))
            return
        sent = figures.sent.pop(str(frame.get("client_id")), None)
        if sent is not None:
            took = time.perf_counter() - sent
            figures.delivery.append(took * 1000)
            figures.late += took > LATE_SECONDS

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def message(self, conversation: str, client_id: str, text: str) -> None:
        self.tracker().sent[client_id] = time.perf_counter()
        await self.send(type="message", conversation=conversation, client_id=client_id, text=text)

    async def expect(self, match: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """Return (and consume) the first frame seen that matches; raise TimeoutError."""
        deadline = time.perf_counter() + timeout
        while True:
            for index, frame in enumerate(self.frames):
                if match(frame):
                    del self.frames[index]
                    return frame
                if frame.get("type") == "error":
                    del self.frames[index]
                    raise RuntimeError(f"refused: {frame.get('code')}: {frame.get('message')}")
            self.arrived.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                pass

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


def _is(kind: str, **keys: Any) -> Callable[[dict[str, Any]], bool]:
    def match(frame: dict[str, Any]) -> bool:
        return frame.get("type") == kind and all(frame.get(k) == v for k, v in keys.items())
    return match


def _conversation(conversation: str, *statuses: str) -> Callable[[dict[str, Any]], bool]:
    def match(frame: dict[str, Any]) -> bool:
        body = frame.get("conversation")
        return (frame.get("type") == "conversation" and isinstance(body, dict)
                and body.get("id") == conversation and body.get("status") in statuses)
    return match


def _agent_message(conversation: str) -> Callable[[dict[str, Any]], bool]:
    def match(frame: dict[str, Any]) -> bool:
        return (frame.get("type") == "message" and frame.get("conversation") == conversation
                and frame.get("author", {}).get("kind") == "agent")
    return match


@dataclass
class Prepared:
    site_key: str
    tokens: list[str]
    agent_emails: list[str]


def _questions() -> list[str]:
    """Questions the help centre answers: the English articles' titles, as a visitor asks."""
    titles = []
    for path in sorted((ROOT / "kb" / "en").glob("*.md")):
        for line in path.read_text().splitlines():
            if line.startswith("title:"):
                titles.append(line.split(":", 1)[1].strip().strip("'\""))
                break
    return titles


class Agent:
    """A console agent: takes what routing gives, reads, types and answers after a pause."""

    def __init__(self, run: Hour, client: Client, me: str) -> None:
        self.run, self.client, self.me = run, client, me
        self.mine: dict[str, int] = {}  # conversation -> its last seq when it came to this agent
        self.sent = 0
        self.tasks: set[asyncio.Task[None]] = set()
        client.on_frame = self.heard

    def heard(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "conversation":
            body = frame["conversation"]
            mine = (body.get("agent") or {}).get("id") == self.me
            if body["status"] == "assigned" and mine and body["id"] not in self.mine:
                self.mine[body["id"]] = body["last_seq"]
                self._later(self._greet(body["id"]))
            elif body["status"] == "closed":
                self.mine.pop(body["id"], None)
        elif (kind == "message" and frame["author"]["kind"] == "visitor"
              and frame["seq"] > self.mine.get(frame["conversation"], 1 << 62)):
            # Only what the visitor writes from now: the sync replays the question.
            self._later(self._answer(frame["conversation"], frame["seq"]))

    def _later(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _greet(self, conversation: str) -> None:
        await self.client.send(type="sync", conversation=conversation, after=0)
        await self._reply(conversation, "Hello, I'm looking into it now.")

    async def _answer(self, conversation: str, seq: int) -> None:
        await self.client.send(type="receipt", conversation=conversation, seq=seq, status="read")
        await self._reply(conversation, "Thanks, here is what I found for you.")

    async def _reply(self, conversation: str, text: str) -> None:
        try:
            await self.client.send(type="typing", conversation=conversation, active=True)
            await asyncio.sleep(self.run.wall(random.expovariate(1 / AGENT_THINK)))
            self.sent += 1
            await self.client.message(conversation, f"a-{self.me[:8]}-{self.sent}", text)
        except Exception as failed:  # noted, and the visitor's flow will not finish
            self.run.figures.errors.append(f"agent: {failed!r}")


class Hour:
    """One replayed hour against running servers."""

    def __init__(self, shop: Shop, bases: list[str], smtp_ports: list[int], sink: services.Sink,
                 signer: services.Signer, ready: Prepared, pids: list[int]) -> None:
        self.shop, self.bases, self.smtp_ports = shop, bases, smtp_ports
        self.sink, self.signer, self.ready, self.pids = sink, signer, ready, pids
        self.figures = Figures()
        self.visitors: list[Client] = []
        self.agents: list[Agent] = []
        self.cookies: list[str] = []
        self.questions = _questions()
        self.chat_numbers = iter(range(10**9))
        self.pages = {base: Pages(base) for base in bases}

    def wall(self, shop_seconds: float) -> float:
        return shop_seconds / self.shop.factor

    def shop_s(self, wall_seconds: float) -> float:
        return wall_seconds * self.shop.factor

    def base(self, n: int) -> str:
        return self.bases[n % len(self.bases)]

    # -- connecting ---------------------------------------------------------------------------

    async def connect_visitors(self, count: int) -> None:
        async def one(n: int) -> Client:
            base = self.base(n)
            ws = await connect(f"{base.replace('http', 'ws', 1)}/ws/visitor?site={self.ready.site_key}",
                               origin=base, compression=None, max_queue=None,  # type: ignore[arg-type]
                               open_timeout=60)
            client = Client(ws, lambda: self.figures)
            client.keep = True
            await client.send(type="hello", token=self.ready.tokens[n])
            await client.expect(_is("welcome"), 60)
            client.keep = False
            client.frames.clear()
            return client

        start = len(self.visitors)
        self.visitors += await gather_limited([one(n) for n in range(start, count)], 50)

    async def connect_agents(self, count: int, http: httpx.AsyncClient) -> None:
        for n in range(len(self.agents), count):
            base = self.base(n)
            login = await http.post(f"{base}/api/v1/login",
                                    json={"email": self.ready.agent_emails[n], "password": PASSWORD})
            login.raise_for_status()
            cookie = login.cookies["chatserver_session"]
            self.cookies.append(cookie)
            ws = await connect(f"{base.replace('http', 'ws', 1)}/ws/agent", max_queue=None,
                               compression=None,
                               additional_headers={"Cookie": f"chatserver_session={cookie}"})
            client = Client(ws, lambda: self.figures)
            client.keep = True
            await client.send(type="hello")
            welcome = await client.expect(_is("welcome"), 60)
            client.keep = False
            client.frames.clear()
            self.agents.append(Agent(self, client, welcome["you"]["id"]))

    # -- the hour -----------------------------------------------------------------------------

    async def replay(self, http: httpx.AsyncClient, drain: float) -> dict[str, float]:
        """Replay the hour's arrivals; return the servers' CPU share and peak memory."""
        self.figures = Figures()
        hour = self.shop.hour_seconds
        pages = [asyncio.create_task(self._browse(n)) for n in range(len(self.visitors))]
        arrivals, at = [], random.expovariate(self.shop.chats_per_hour / 3600)
        while at < 3600:
            arrivals.append(self.wall(at))
            at += random.expovariate(self.shop.chats_per_hour / 3600)
        idle = list(range(len(self.visitors)))
        random.shuffle(idle)
        usage = {"peak_rss": 0.0}
        sampler = asyncio.create_task(self._sample(usage))
        cpu_before, started = sum(cpu_seconds(p) for p in self.pids), time.perf_counter()
        own_before = time.process_time()
        flows = []
        for n, due in enumerate(arrivals):
            await asyncio.sleep(max(0.0, started + due - time.perf_counter()))
            flows.append(asyncio.create_task(self._chat(self.visitors[idle[n % len(idle)]], http)))
        await asyncio.sleep(max(0.0, started + hour - time.perf_counter()))
        for task in pages:
            task.cancel()
        done, pending = await asyncio.wait(flows, timeout=drain) if flows else (set(), set())
        for task in pending:
            task.cancel()
        elapsed = time.perf_counter() - started
        cpu = sum(cpu_seconds(p) for p in self.pids) - cpu_before
        sampler.cancel()
        self.figures.unfinished = len(pending)
        self.figures.chats = len(flows)
        # Sent but never heard by the peer; acked ones are the lost ones.
        self.figures.sent = {k: v for k, v in self.figures.sent.items() if k in self.figures.acked}
        missing = self.figures.mails_expected - sum(len(v) for v in self.figures.mail.values())
        self.figures.mails_missing = max(0, missing)
        return {"cpu_percent": cpu / elapsed * 100, "peak_rss_mib": usage["peak_rss"] / 2**20,
                "bench_cpu_percent": (time.process_time() - own_before) / elapsed * 100}

    async def _sample(self, usage: dict[str, float]) -> None:
        while True:
            usage["peak_rss"] = max(usage["peak_rss"], sum(rss_bytes(p) for p in self.pids))
            await asyncio.sleep(0.5)

    async def _browse(self, n: int) -> None:
        """View pages as the widget reports them, until cancelled."""
        pages, token, key = self.pages[self.base(n)], self.ready.tokens[n], self.ready.site_key
        shown = False
        while True:
            await asyncio.sleep(random.expovariate(1 / self.shop.page_view_every))
            checkout = random.random() < CHECKOUT_SHARE
            path = f"/checkout/step{n % 3}" if checkout else f"/products/{random.randrange(500)}"
            began = time.perf_counter()
            try:
                await pages.request("POST", f"/api/v1/sites/{key}/visitors", {
                    "token": token, "page": {"url": f"https://shop.example{path}", "title": "Shop"}})
                rules = await pages.request("GET", f"/api/v1/sites/{key}/proactive")
                if checkout and not shown:
                    rule = rules["rules"][0]["id"]
                    answer = await pages.request("POST", f"/api/v1/sites/{key}/proactive/{rule}/shown",
                                                 {"token": token})
                    shown = True
                    self.figures.proactive_shown += answer["show"] is True
            except (OSError, asyncio.IncompleteReadError, ValueError, KeyError, IndexError):
                self.figures.page_view_errors += 1
                continue
            self.figures.page_views.append((time.perf_counter() - began) * 1000)

    async def _chat(self, visitor: Client, http: httpx.AsyncClient) -> None:
        """One visitor's chat, from the first keystroke to the rating."""
        n = next(self.chat_numbers)
        figures = self.figures
        article = random.random() < ARTICLE_SHARE
        question = (random.choice(self.questions) if article
                    else f"I want to talk to someone about my order {n}")
        visitor.keep = True
        visitor.frames.clear()
        patience = self.wall(3600) + 30  # nobody waits longer than the hour plus the drain
        try:
            for typed in (question[: len(question) // 2], question):
                began = time.perf_counter()
                await visitor.send(type="search", text=typed, locale="en")
                await visitor.expect(_is("suggestions", conversation=None), patience)
                if typed is not question:
                    figures.suggest.append((time.perf_counter() - began) * 1000)
                    await asyncio.sleep(self.wall(TYPING_PAUSE))
            await visitor.send(type="start", client_id=f"s{n}", text=question, locale="en")
            conversation = str((await visitor.expect(_is("ack", ref=f"s{n}"), patience))["conversation"])
            if article:
                shown = await visitor.expect(lambda f: _is("suggestions", conversation=conversation)(f)
                                             or _conversation(conversation, "queued")(f), patience)
                if shown["type"] == "suggestions":
                    await asyncio.sleep(self.wall(VISITOR_THINK))
                    if random.random() < HELPED_SHARE:
                        slug = shown["articles"][0]["slug"] if shown["articles"] else "none"
                        await visitor.send(type="article", slug=slug, locale="en", conversation=conversation)
                        await visitor.send(type="resolve", conversation=conversation)
                        await visitor.expect(_conversation(conversation, "closed"), patience)
                        figures.self_served += 1
                        return
                    await visitor.send(type="escalate", conversation=conversation)
            asked = time.perf_counter()
            figures.asked += 1
            if random.random() < EMAIL_SHARE:
                await self._leave_email(visitor, conversation, n, http)
                return
            await visitor.expect(_conversation(conversation, "assigned"), patience)
            assigned = time.perf_counter()
            figures.queue_wait.append(self.shop_s(assigned - asked))
            for turn in range(EXCHANGES + 1):
                reply = await visitor.expect(_agent_message(conversation), patience)
                if turn == 0:
                    figures.first_reply.append(self.shop_s(time.perf_counter() - asked))
                await visitor.send(type="receipt", conversation=conversation, seq=reply["seq"], status="read")
                if turn == EXCHANGES:
                    break
                await visitor.send(type="typing", conversation=conversation, active=True)
                await asyncio.sleep(self.wall(random.expovariate(1 / VISITOR_THINK)))
                await visitor.message(conversation, f"v{n}-{turn}", f"And what about item {turn}?")
                await visitor.send(type="typing", conversation=conversation, active=False)
            await visitor.send(type="close", conversation=conversation)
            await visitor.expect(_conversation(conversation, "closed"), patience)
            figures.handling.append(self.shop_s(time.perf_counter() - assigned))
            await visitor.send(type="rate", conversation=conversation, score="good")
        except Exception as failed:  # reported in the table: a flow that did not finish
            figures.errors.append(f"chat: {failed!r}")
        finally:
            visitor.keep = False
            visitor.frames.clear()

    async def _leave_email(self, visitor: Client, conversation: str, n: int, http: httpx.AsyncClient) -> None:
        """The visitor leaves an address; the ticket goes back and forth by mail."""
        figures = self.figures
        email = f"c{n}-{random.randrange(10**6)}@{CUSTOMER_DOMAIN}"
        figures.left_email += 1
        figures.mails_expected += 3
        began = time.perf_counter()
        await visitor.send(type="leave_email", email=email, name=f"Customer {n}", conversation=conversation)
        ticket = (await visitor.expect(_is("ticket"), self.wall(3600) + 30))["ticket"]["id"]
        # A chat an agent held meanwhile stays open until someone closes it.
        await visitor.send(type="close", conversation=conversation)
        confirmation = await self._mail_to(email, 1, began)
        figures.mail["confirmation"].append(confirmation[0] - began)
        await asyncio.sleep(self.wall(CUSTOMER_MAIL_THINK))
        answer = _answer_to(confirmation[1], email, "Thanks. The parcel number is 3SHOP4711.")
        sent = time.perf_counter()
        await aiosmtplib.send(self.signer.sign(answer.as_bytes()), sender=email,
                              recipients=[str(answer["To"])], hostname="127.0.0.1",
                              port=self.smtp_ports[n % len(self.smtp_ports)], timeout=30)
        cookie, base = self.cookies[n % len(self.cookies)], self.base(n)
        headers = {"Cookie": f"chatserver_session={cookie}"}
        while True:
            detail = (await http.get(f"{base}/api/v1/tickets/{ticket}", headers=headers)).json()
            if any(entry.get("kind") == "customer" for entry in detail.get("entries", [])):
                break
            await asyncio.sleep(0.05)
        figures.mail["into ticket"].append(time.perf_counter() - sent)
        await asyncio.sleep(self.wall(DESK_THINK))
        replied = time.perf_counter()
        answered = await http.post(f"{base}/api/v1/tickets/{ticket}/replies", headers=headers,
                                   json={"text": "Found it: it arrives tomorrow.", "client_id": f"r{n}"})
        answered.raise_for_status()
        figures.mail["answer mailed"].append((await self._mail_to(email, 2, replied))[0] - replied)

    async def _mail_to(self, address: str, count: int, since: float) -> tuple[float, EmailMessage]:
        deadline = time.perf_counter() + self.wall(3600) + 30
        while time.perf_counter() < deadline:
            mails = self.sink.mails.get(address, [])
            if len(mails) >= count:
                return mails[count - 1]
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no mail {count} to {address}")


def _answer_to(mail: EmailMessage, sender: str, text: str) -> EmailMessage:
    """The customer's mail program answering a mail: threaded, quoted below."""
    answer = EmailMessage()
    answer["From"] = sender
    answer["To"] = str(mail["Reply-To"])
    answer["Subject"] = "Re: " + str(mail["Subject"])
    answer["Message-ID"] = make_msgid(domain=CUSTOMER_DOMAIN)
    answer["In-Reply-To"] = str(mail["Message-ID"])
    answer["References"] = str(mail["Message-ID"])
    answer.set_content(f"{text}\n\n> (the confirmation, quoted)\n")
    return answer
