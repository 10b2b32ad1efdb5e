"""Realistic simulated traffic for the demo and for trying reports: visitors, problem moments,
carts, returning visits, orders (many on later visits), chats with scripted Finnish and English
dialogues, agents answering and ratings.

It drives the product's own code paths — `/api/v1/track`, `/api/v1/decide` and `/api/v1/orders`
over ASGI, the chat services the sockets call — never writing rows directly. History runs on a
moved clock (`kit.clock.travel`), so a month takes a minute; each rule has a real effect on
whether a shown visitor buys, so the reports find winners and losers.
"""
