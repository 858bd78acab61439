"""One module per API shape: each parses its request into the canonical :class:`~tokcount.request.Request`
and formats counts and errors in its own shape. No counting logic lives here."""
