/* A stand-in for bcryptprimitives.dll, which Wine 8 lacks and Rust's std
 * (1.78 and later) needs for random numbers: ProcessPrng forwarded to
 * RtlGenRandom (advapi32's SystemFunction036). Only for the Wine prefix the
 * tests run in; never shipped, never on a real Windows. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
