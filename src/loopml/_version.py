from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("loopml")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"


def package_versions(*packages: str) -> dict[str, str]:
    """loopml's version and each installed package's, from package metadata (importing them costs time)."""
    found = {"loopml": __version__}
    for package in packages:
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    return found
