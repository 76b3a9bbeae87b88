import qcap
from qcap import crypto
from qcap.encoding import age_identity_encode, age_recipient_encode

SEED = "e4e278e1bb25e279f85288069ab7a61be1def2cb27d7b2dc6adc2f5b322737a2"
ISSUER = crypto.ed25519_public(bytes.fromhex(SEED)).hex()
ID_SECRET = bytes(range(1, 33))
IDENTITY = age_identity_encode(ID_SECRET)
RECIPIENT = age_recipient_encode(crypto.x25519_public(ID_SECRET))
OTHER_IDENTITY = age_identity_encode(bytes(range(2, 34)))
FAST_ARGON = (256, 1, 1)


def pattern(n: int) -> bytes:
    return (bytes(range(251)) * (n // 251 + 1))[:n]


def sample_inputs():
    return [
        ("hello.txt", b"hello\n"),
        ("donn\u00e9es/\u00e9t\u00e9.bin", pattern(196613), 493),
        ("empty", b""),
        ("exact", pattern(65536)),
        ("meta/item.json", b'{"type":"Feature"}'),
    ]


def pack(tmp_path, name="c.qcap", inputs=None, **kw):
    out = tmp_path / name
    qcap.pack(inputs if inputs is not None else sample_inputs(), out, signing_key=SEED, **kw)
    return out
