# regex: pull fields out of 20000 log lines (findall, captures, sub, split)
import re
def main():
    lines = []
    for i in range(20000):
        lines.append(f"2024-06-{i % 28 + 1} 12:{i % 60}:{i % 7} user{i}@host{i % 13}.example.com GET /api/v{i % 3}/items/{i} 200 {i * 37 % 9999}")
    digits = users = replaced = pieces = 0
    hosts = ""
    for line in lines:
        digits += len(re.findall(r"\d+", line))
        cs = [m.groupdict() for m in re.finditer(r"(?P<user>\w+)@(?P<host>[\w.]+)", line)]
        users += len(cs[0]["user"])
        hosts = cs[0]["host"]
        replaced += len(re.sub(r"\d", "#", line))
        pieces += len(re.split(r"\s+", line))
    print(digits)
    print(users)
    print(hosts)
    print(replaced)
    print(pieces)
main()
