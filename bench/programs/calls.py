# calls: many calls of small non-recursive functions.
def add3(a, b, c):
    return a + b + c
def mix(x):
    return add3(x, x % 7, 1) % 1000
def main():
    acc = 0
    for i in range(3000000):
        acc = acc + mix(i)
    print(acc)
main()
