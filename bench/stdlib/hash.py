# hash: a SHA-256 chain, HMACs, MD5/SHA-1 and hex/base64 round trips
import base64, hashlib, hmac
def main():
    h = "seed"
    for i in range(100000):
        h = hashlib.sha256(h.encode()).hexdigest()
    print(h)
    m = ""
    for i in range(50000):
        m = hmac.new(f"key-{i % 10}".encode(), f"message {i} {m}".encode(), hashlib.sha256).hexdigest()
    print(m)
    n = 0
    for i in range(50000):
        s = f"payload {i}"
        b = s.encode()
        n += len(hashlib.md5(b).hexdigest()) + len(hashlib.sha1(b).hexdigest()) + len(hashlib.sha512(b).hexdigest())
        if base64.b64decode(base64.b64encode(b)).decode() == s and bytes.fromhex(b.hex()).decode() == s:
            n += 1
    print(n)
main()
