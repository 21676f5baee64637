# arith: integer and float arithmetic in a tight while loop.
def main():
    i = 0
    acc = 0
    f = 0.0
    while i < 3000000:
        acc = (acc + i * 7 - i // 3 + i % 11) % 1000003
        f = f + 0.5
        i = i + 1
    print(acc)
    print(f)
main()
