# strings: interpolation (f-strings), concatenation, length and join.
def main():
    total = 0
    for i in range(600000):
        s = f"item {i}: {i % 97}"
        t = s + "|" + s
        total = total + len(t)
    for r in range(6000):
        line = ""
        for j in range(40):
            line = line + f"{j + r},"
        total = total + len(line)
    words = ["alpha", "beta", "gamma", "delta"]
    for r in range(20000):
        total = total + len("-".join(words))
    print(total)
main()
