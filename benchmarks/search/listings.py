"""Listings for the search benchmark, written straight into the tickets database (through the API, 100,000 would
take minutes), and the query plans the database picks for the benchmark's searches.

  listings.py sqlite PATH COUNT     inserts COUNT listings into the SQLite database at PATH; prints the deep id
  listings.py tsv COUNT             the same listings as COPY text for PostgreSQL, on stdout
  listings.py deep COUNT            the id of the listing halfway through, oldest first
  listings.py plans sqlite PATH ID  the plan of each search (continuing after ID), from SQLite's EXPLAIN QUERY PLAN
  listings.py plans postgresql ID   the EXPLAIN ANALYZE statements of the same searches for psql, on stdout

Every fifth title has "concert" (the common word); one in a thousand is a "Lisbon Orchestra" (the rare words).
Prices spread evenly over $5.00-$504.99, so the benchmark's $50-$150 range holds a fifth of them. The SQL below is
what TicketSearch and TicketController.list send (Sources/Tickets/Controllers); keep the two in step."""
import sqlite3
import sys
import time
import uuid

ARTISTS = ("Adele Aurora Bjork Coldplay Drake Elbow Fugazi Genesis Hozier Incubus Journey Kasabian Lorde Madness "
           "Nirvana Oasis Pixies Queen Radiohead Slowdive Texas Ultravox Verve Weezer Yes Zappa Abba Blur Cream "
           "Doves Eels Feeder Garbage Hole Interpol Japan Keane Lamb Muse Nas Orbital Portishead Pulp Ride Suede "
           "Travis Underworld Vampire Wilco Xtc").split()
KINDS = ("concert", "opera", "match", "play", "festival")
CITIES = ("Porto Madrid Paris Berlin Vienna Prague Rome Milan Oslo Dublin Leeds Bristol Glasgow Cardiff Lyon Lille "
          "Turin Naples Seville Valencia Bilbao Ghent Bruges Antwerp Utrecht Leiden Basel Zurich Geneva Munich Hamburg "
          "Cologne Bremen Krakow Gdansk Riga Tallinn Vilnius Helsinki Bergen").split()
SELLER = "5e11e400-0000-4000-8000-000000000000"


def listing(i, start):
    kind = KINDS[i % 5]
    title = f"Lisbon Orchestra {kind}" if i % 1000 == 500 else f"{ARTISTS[(i // 5) % 50]} {kind} in {CITIES[(i // 7) % 40]}"
    return str(uuid.UUID(int=i, version=4)), title, 500 + (i * 7919) % 50000, start + i / 100


def listings(count):
    start = time.time() - count / 100 - 60
    return (listing(i, start) for i in range(count))


def deep(count):
    """Halfway, and priced near the bottom fifth ($84.19), so that a deep page by price has pages after it too."""
    return listing(count // 2 + 1, 0)[0]


COLUMNS = ", ".join("tickets." + c for c in "id title price_cents user_id version resale_of face_value_cents".split())
FOR_SALE = "order_id IS NULL AND withdrawn_at IS NULL"


def searches(dialect, cursor):
    """(name, SQL) of each benchmark phase's query, as the service writes it for that database."""
    def words(quoted):
        if dialect == "postgresql":
            return f"AND words @@ websearch_to_tsquery('english', '{quoted}') "
        return f"AND rowid IN (SELECT rowid FROM ticket_words WHERE ticket_words MATCH '{quoted}') "

    def after(columns, comparison):
        return f"AND ({columns}) {comparison} (SELECT {columns} FROM tickets WHERE id = '{cursor}') "

    def select(conditions, order):
        return f"SELECT {COLUMNS} FROM tickets WHERE {FOR_SALE} {conditions}ORDER BY {order} LIMIT 21"

    def by_date(quoted, conditions="", direction="", cursor_after=False):
        """Words by date: SQLite reads its full-text index in its own order (TicketSearch.wordsInListingOrder)."""
        if dialect == "postgresql":
            keyset = after("created_at, id", "<" if direction else ">") if cursor_after else ""
            return select(words(quoted) + conditions + keyset, f"created_at{direction}, id{direction}")
        keyset = (f"AND ticket_words.rowid {'<' if direction else '>'} (SELECT rowid FROM tickets WHERE id = '{cursor}') "
                  if cursor_after else "")
        return (f"SELECT {COLUMNS} FROM ticket_words JOIN tickets ON tickets.rowid = ticket_words.rowid "
                f"WHERE ticket_words MATCH '{quoted}' AND {FOR_SALE} {conditions}{keyset}"
                f"ORDER BY ticket_words.rowid{direction} LIMIT 21")

    price = "AND price_cents >= 5000 AND price_cents <= 15000 "
    return [
        ("common word, price range", by_date('"concert"', price)),
        ("common word, range, by price", select(words('"concert"') + price, "price_cents, created_at, id")),
        ("common word, range, newest", by_date('"concert"', price, " DESC")),
        ("rare word", by_date('"lisbon" "orchestra"')),
        ("deep page, oldest", select(after("created_at, id", ">"), "created_at, id")),
        ("deep page, by price", select(after("price_cents, created_at, id", "<"), "price_cents DESC, created_at DESC, id DESC")),
        ("common word, deep page", by_date('"concert"', cursor_after=True)),
    ]


def main(arguments):
    command = arguments[0]
    if command == "sqlite":
        path, count = arguments[1], int(arguments[2])
        database = sqlite3.connect(path, timeout=30)
        with database:
            database.executemany(
                "INSERT INTO tickets (id, title, price_cents, user_id, version, serial, created_at) VALUES (?, ?, ?, ?, 0, 0, ?)",
                ((id.upper(), title, cents, SELLER, created) for id, title, cents, created in listings(count)))
        print(deep(count).upper())
    elif command == "tsv":
        for id, title, cents, created in listings(int(arguments[1])):
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1e6):06d}+00"
            print(f"{id}\t{title}\t{cents}\t{SELLER}\t0\t0\t{stamp}")
    elif command == "deep":
        print(deep(int(arguments[1])))
    elif command == "plans" and arguments[1] == "sqlite":
        database = sqlite3.connect(arguments[2], timeout=30)
        cursor = arguments[3]
        for name, sql in searches("sqlite", cursor):
            print(f"-- {name}\n{sql}")
            for row in database.execute("EXPLAIN QUERY PLAN " + sql):
                print("   ", row[3])
    elif command == "plans" and arguments[1] == "postgresql":
        for name, sql in searches("postgresql", arguments[2]):
            print(f"\\echo '-- {name}'\n\\echo {sql!r}\nEXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql};")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
