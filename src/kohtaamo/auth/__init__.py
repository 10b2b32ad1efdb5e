"""Staff identity: users, passwords, sessions and tokens, workspace memberships and roles."""
