"""Play days of history into a workspace: its own app instance (no archive, no limits on the
simulated shop's request rate), the product's API over ASGI, and a moved clock."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from kohtaamo.config import Settings
from kohtaamo.db.engine import transaction
from kohtaamo.kit import clock
from kohtaamo.shops import service as shops
from kohtaamo.shops.models import Workspace
from kohtaamo.simulate.asgi import AsgiClient
from kohtaamo.simulate.people import Summary
from kohtaamo.simulate.run import DAY, REPLY, Simulation, agents_of

# `kohtaamo demo`'s month: enough people for the rules report to judge its strongest rules
# (docs/demo.md); few of them answer a rule's chat message, since a chat costs as much to play
# as a few dozen page views and the agents' report needs only dozens.
DEMO_VISITORS = 3400
DEMO_REPLY = 0.025


async def history(
    make_app: Callable[[Settings], FastAPI],
    settings: Settings,
    *,
    workspace_id: int,
    visitors: int,
    days: float,
    seed: int,
    styles: dict[str, str] | None = None,
    end: float | None = None,
    reply: float = REPLY,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    settings = settings.model_copy(
        update={
            # The simulated visitors all arrive through one process in a few seconds of real time.
            "track_rate_per_site": 1e9,
            "track_burst_per_site": 1_000_000_000,
            "analytics_in_server": False,
            # A sweep on the real clock would close conversations at moments no seed decides;
            # the rules already count an idle conversation as over (chat.idle.going_on).
            "chat_idle_sweep_seconds": 0.0,
        }
    )
    app = make_app(settings)
    end = end if end is not None else clock.now_seconds() - 60
    async with app.router.lifespan_context(app):
        maker = app.state.sessionmaker
        async with transaction(maker) as s:
            ws = await s.get(Workspace, workspace_id)
            if ws is None:
                raise LookupError(f"no workspace {workspace_id}")
            key, secret = await shops.create_api_key(
                s, workspace_id=workspace_id, name="Simulator", created_by=None
            )
            site_key, key_id = ws.site_key, key.id
        client = AsgiClient(app, settings.public_base_url, client=("198.51.100.7", 40000))
        try:
            sim = Simulation(
                app,
                client,
                site_key=site_key,
                api_key=secret,
                agents=await agents_of(app, workspace_id, styles or {}),
                seed=seed,
                reply=reply,
            )
            sim.t = end - days * DAY
            app.state.tracker.clock = sim.now
            with clock.travel(sim.now):
                await sim.load_rules()
                summary = await sim.run(
                    visitors=visitors, start=end - days * DAY, end=end, progress=progress
                )
        finally:
            async with transaction(maker) as s:
                await shops.revoke_api_key(s, workspace_id=workspace_id, key_id=key_id)
    return summary
