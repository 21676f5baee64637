# closures: list map/filter/reduce with closures capturing a local.
from functools import reduce
def main():
    xs = list(range(10000))
    total = 0
    for k in range(240):
        ys = list(map(lambda x: x * k + 1, xs))
        zs = list(filter(lambda x: x % 3 == 0, ys))
        total = (total + reduce(lambda a, b: a + b, zs, 0)) % 1000000007
    print(total)
main()
