"""SHA-256 of a file, read in 1 MiB chunks (checkpoints are tens of MB)."""
import hashlib


def file_sha256(path: str) -> str:
    """Hex SHA-256 of the bytes of ``path``.

    Raises:
        OSError: ``path`` cannot be read (the caller names what the file was for).
    """
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()
