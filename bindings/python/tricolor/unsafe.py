"""tricolor.unsafe — the escape hatch, like Go's package unsafe.

    from tricolor import unsafe

    addr = unsafe.address(obj)          # the object's address, an int
    with unsafe.buffer(obj) as view:    # a writable memoryview on the payload
        view[0:5] = b"HELLO"            # visible in obj.data at once
    unsafe.free(obj)                    # free it now

A view keeps its object alive, and while one exists `free(obj)` and
`heap.close()` raise `BufferError`. After `free(obj)` every handle to the
object raises `tricolor.FreedObjectError` on use (its `id`, `==`, `hash` and
`repr` keep working); its finalizer is dropped and its cleanups run. A
reference to it left in another object's slot is the caller's bug, which
`heap.verify()` reports as `tricolor.HeapCorruption`. See docs/python.md.
"""
from ._tricolor import _unsafe_address as address
from ._tricolor import _unsafe_buffer as buffer
from ._tricolor import _unsafe_free as free

__all__ = ["address", "buffer", "free"]
