"""The README's table of services (between its services:begin and services:end markers), from the catalog."""
from catalog import CATCH_ALL

BEGIN = "<!-- services:begin -->"
END = "<!-- services:end -->"


class ReadmeError(Exception):
    pass


def table(catalog):
    def listed(values):
        return ", ".join(f"`{v}`" for v in values) or "none"

    def routes(service):
        return ", ".join(f"`{r}` (every other path)" if r == CATCH_ALL else f"`{r}`" for r in service.routes) or "none"

    rows = ["| service | port | routes | database | publishes | consumes |", "|---|---|---|---|---|---|"]
    rows += [f"| **{s.name}** | {s.port} | {routes(s)} | {'yes' if s.database else 'no'} | {listed(s.publishes)} "
             f"| {listed(s.consumes)} |" for s in catalog.services]
    return "\n".join(rows) + "\n"


def with_table(text, catalog):
    """The README's text with the table between the markers replaced by the catalog's."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start or text.count(BEGIN) != 1 or text.count(END) != 1:
        raise ReadmeError(f"README.md must hold one {BEGIN} line followed by one {END} line")
    body = start + len(BEGIN)
    generated = "\n<!-- written by infra/generate.py from `ticketing services --json`; edit neither by hand -->\n"
    return text[:body] + generated + table(catalog) + text[end:]
