# dict_props: property reads (d["x"]) on small dicts in a loop.
def main():
    points = [{"x": 1, "y": 2, "z": 3}, {"x": 4, "y": 5, "z": 6}, {"x": 7, "y": 8, "z": 9}, {"x": 10, "y": 11, "z": 12}]
    acc = 0
    for i in range(4000000):
        p = points[i % 4]
        acc = acc + p["x"] * p["y"] - p["z"]
    print(acc)
main()
