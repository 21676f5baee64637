/*
 * ucase.h: the VM's one case mapping of code points (ucase.c says which
 * scripts it covers).
 */
#ifndef HARN_VM_UCASE_H
#define HARN_VM_UCASE_H

#include <stdint.h>

/* The upper-case partner of code point [c], or [c] itself. */
uint32_t ucase_upper(uint32_t c);

/* The lower-case partner of code point [c], or [c] itself. */
uint32_t ucase_lower(uint32_t c);

#endif
