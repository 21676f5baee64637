# dicts: word counting over a 200-word vocabulary, lookups, key iteration.
def main():
    vocab = []
    for w in range(200):
        vocab = vocab + [f"w{w}"]
    counts = {}
    for i in range(1600000):
        k = vocab[(i * 7 + i // 13) % 200]
        counts[k] = counts.get(k, 0) + 1
    total = 0
    misses = 0
    for r in range(4000):
        for k in vocab:
            total = total + counts[k]
            if counts.get(f"x{r}") is None:
                misses = misses + 1
    keylen = 0
    for k in sorted(counts.keys()):
        keylen = keylen + len(k)
    print(len(counts))
    print(total)
    print(misses)
    print(keylen)
main()
