# struct_props: field reads on struct instances (a plain class).
class Vec3:
    def __init__(self, x, y, z):
        self.x = x
        self.y = y
        self.z = z
def main():
    vs = [Vec3(1, 2, 3), Vec3(4, 5, 6), Vec3(7, 8, 9), Vec3(10, 11, 12)]
    acc = 0
    for i in range(4000000):
        v = vs[i % 4]
        acc = acc + v.x * v.y - v.z
    print(acc)
main()
