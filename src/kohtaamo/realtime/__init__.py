"""Real-time infrastructure: who is online now (presence); the websocket hub comes with chat."""
