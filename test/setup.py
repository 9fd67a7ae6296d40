"""The release's SlapOS-level test suite as SlapOS's test runner
(slapos-sr-testing) installs it: a develop egg (`pip install -e test/`),
run with `python -m unittest discover -v` in test/.  See README.md."""
from setuptools import setup

setup(
    name='slapos.test.re6st-registry',
    version='0.0.1.dev0',
    description='Test for the re6st registry software release',
    packages=['harness', 'standalone'],
    install_requires=[
        'slapos.core',
        'slapos.libnetworkcache',
        'supervisor',
        'cryptography',
        're6stnet',
        'pyOpenSSL',
        'jsonschema',
    ],
    zip_safe=True,
    test_suite='standalone',
)
