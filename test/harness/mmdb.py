"""GeoIP2 country databases for the tests, in the MaxMind DB format
(https://maxmind.github.io/MaxMind-DB/): one with a search tree of one
node that knows no address (re6st-registry then locates every node at
'*': geoip2 raises AddressNotFoundError, which re6st catches, but runs
with same-country and communities, as with a real database), and one
that places one network (a loopback one) in a country."""
import os
import time


def _mmdb_control(kind, size):
    extra = b''
    if size >= 29:
        assert size < 285
        size, extra = 29, bytes([size - 29])
    if kind <= 7:
        return bytes([kind << 5 | size]) + extra
    return bytes([size, kind - 7]) + extra


def _mmdb_encode(value):
    """MaxMind DB data: str, dict, list, or (type number, unsigned int)."""
    if isinstance(value, str):
        data = value.encode()
        return _mmdb_control(2, len(data)) + data
    if isinstance(value, dict):
        return _mmdb_control(7, len(value)) + b''.join(
            _mmdb_encode(k) + _mmdb_encode(v) for k, v in value.items())
    if isinstance(value, list):
        return _mmdb_control(11, len(value)) + b''.join(
            map(_mmdb_encode, value))
    kind, number = value  # 5: uint16, 6: uint32, 9: uint64
    data = number.to_bytes((number.bit_length() + 7) // 8, 'big')
    return _mmdb_control(kind, len(data)) + data


def empty_country_mmdb(path, database_type='GeoLite2-Country'):
    node_count = 1
    tree = node_count.to_bytes(3, 'big') * 2  # both branches: no data
    write_mmdb(path, tree, node_count, b'', database_type)


def located_country_mmdb(path, network, country, continent,
                         database_type='GeoLite2-Country'):
    """A database that places the addresses of `network` (IPv4 or IPv6,
    like '127.0.0.0/8') in `country` (ISO code) on `continent` (code, like
    'EU'), and knows no other address: a search tree of one node per bit
    of the network (an IPv4 address is looked up as ::a.b.c.d)."""
    import ipaddress
    network = ipaddress.ip_network(network)
    if network.version == 4:
        bits = '0' * 96 + format(int(network.network_address), '032b')
        bits = bits[:96 + network.prefixlen]
    else:
        bits = format(int(network.network_address), '0128b')
        bits = bits[:network.prefixlen]
    node_count = len(bits)
    data = _mmdb_encode({'country': {'iso_code': country},
                         'continent': {'code': continent}})
    tree = b''
    for i, bit in enumerate(bits):
        # the next node on the path, or the data (node_count + 16 + its
        # offset), at the last bit; no data on the other branch
        on_path = i + 1 if i + 1 < node_count else node_count + 16
        records = [node_count, node_count]
        records[int(bit)] = on_path
        tree += b''.join(r.to_bytes(3, 'big') for r in records)
    write_mmdb(path, tree, node_count, data, database_type)
    return path


def write_mmdb(path, tree, node_count, data, database_type):
    metadata = {
        'binary_format_major_version': (5, 2),
        'binary_format_minor_version': (5, 0),
        'build_epoch': (9, int(time.time())),
        'database_type': database_type,
        'description': {'en': 'empty test database'},
        'ip_version': (5, 6),
        'languages': ['en'],
        'node_count': (6, node_count),
        'record_size': (5, 24),
    }
    with open(path, 'wb') as f:
        f.write(tree + bytes(16) + data + b'\xab\xcd\xefMaxMind.com'
                + _mmdb_encode(metadata))


def country_mmdb(directory, database_type='GeoLite2-Country'):
    """A database file in `directory`, for geoip2-mmdb: its path."""
    path = os.path.join(directory, '%s.mmdb' % database_type)
    empty_country_mmdb(path, database_type)
    return path
