"""The token manager's own state: one row per shared instance (its token,
made once and never changed, what the registry said of it, what was last
published), in a sqlite database of the partition (srv/re6st-tokens)."""
import os
import sqlite3


class Store:
    """The service's own state, one row per shared instance."""

    SCHEMA = """
        CREATE TABLE IF NOT EXISTS token (
            reference TEXT PRIMARY KEY,
            token TEXT UNIQUE NOT NULL,
            email TEXT NOT NULL DEFAULT '',
            description TEXT NOT NULL DEFAULT '',
            registered INTEGER NOT NULL DEFAULT 0,
            prefix TEXT,             -- the node's, once the token is used
            ipv6 TEXT,
            ipv4 TEXT,
            checked REAL NOT NULL DEFAULT 0,   -- last check or attempt
            dropped INTEGER NOT NULL DEFAULT 0, -- shared instance destroyed
            error TEXT,              -- last registry error, for the status
            published TEXT           -- what was last published
        );
        CREATE TABLE IF NOT EXISTS adopted (
            reference TEXT PRIMARY KEY,
            email TEXT NOT NULL,     -- the node's name in the registry
            seen INTEGER NOT NULL DEFAULT 0  -- requested since adopted
        );
        CREATE TABLE IF NOT EXISTS invalid (
            reference TEXT PRIMARY KEY,
            error TEXT NOT NULL,
            published TEXT
        );
    """

    def __init__(self, path):
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(self.SCHEMA)

    def adopted_email(self, reference):
        """The registry's name of an adopted token's node, or None."""
        row = self.db.execute('SELECT email FROM adopted WHERE reference=?',
                              (reference,)).fetchone()
        return row[0] if row else None

    def unseen(self):
        """References of adopted tokens not requested since."""
        return {row[0] for row in self.db.execute(
            'SELECT reference FROM adopted WHERE NOT seen')}

    def rows(self, where='1', args=(), order='reference'):
        return self.db.execute(
            'SELECT * FROM token WHERE %s ORDER BY %s' % (where, order),
            args).fetchall()

    def update(self, reference, **values):
        self.db.execute(
            'UPDATE token SET %s WHERE reference=?'
            % ', '.join('%s=?' % k for k in values),
            tuple(values.values()) + (reference,))
