# methods: method dispatch on objects (class methods).
class Counter:
    def __init__(self, n, step):
        self.n = n
        self.step = step
    def value(self):
        return self.n
    def scaled(self, k):
        return self.n * k + self.step
def main():
    cs = [Counter(1, 2), Counter(3, 4), Counter(5, 6)]
    acc = 0
    for i in range(1600000):
        c = cs[i % 3]
        acc = (acc + c.value() + c.scaled(i % 10)) % 1000000007
    print(acc)
main()
