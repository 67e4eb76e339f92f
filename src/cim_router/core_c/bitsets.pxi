# Bit helpers and the allocator every C array of the core goes through.

cdef extern from *:
    """
    #include <stdint.h>
    #ifndef CIM_DEBUG
    #define CIM_DEBUG 0
    #endif
    static inline int cim_ctz(uint64_t x) { return __builtin_ctzll(x); }
    """
    int cim_ctz(uint64_t x) nogil
    int __builtin_popcountll(uint64_t x) nogil
    bint CIM_DEBUG


cdef void* _xrealloc(void* p, size_t old_bytes, size_t new_bytes) except NULL:
    """realloc that zeroes the new tail and raises MemoryError instead of returning NULL."""
    cdef char* q = <char*>realloc(p, new_bytes if new_bytes else 1)
    if q == NULL:
        raise MemoryError()
    if new_bytes > old_bytes:
        memset(q + old_bytes, 0, new_bytes - old_bytes)
    return q


cdef inline void _set_bit(uint64_t* bits, int i):
    bits[i >> 6] |= (<uint64_t>1) << (i & 63)


cdef inline void _clear_bit(uint64_t* bits, int i):
    bits[i >> 6] &= ~((<uint64_t>1) << (i & 63))


cdef inline bint _test_bit(uint64_t* bits, int i):
    return (bits[i >> 6] >> (i & 63)) & 1
