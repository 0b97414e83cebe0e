-- A user name given without a password is now shown masked like a password (it is often the
-- secret itself: a token or key). Connectors saved before kept it in their redacted form, which
-- responses show and a PUT may send back: mask it there too, as the api now writes it.
update connectors
set connection_redacted =
    regexp_replace(connection_redacted, '^(mongodb(\+srv)?://)[^:@/?]+@', '\1****@')
where connection_redacted ~ '^mongodb(\+srv)?://[^:@/?]+@';
