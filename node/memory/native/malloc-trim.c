/*
 * One function for the daemon's memory reclaimer: glibc's malloc_trim(0), which gives the free
 * pages in the middle of malloc's heaps back to the OS. A free() returns memory only from the top
 * of a heap, so the buffers of a transfer or a log, freed in any order, stay resident otherwise.
 * Where the C library is not glibc, trim() does nothing and returns false.
 */
#include <stdlib.h>
#include <node_api.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

static napi_value Trim (napi_env env, napi_callback_info info) {
  (void)info;
  int released = 0;
#if defined(__GLIBC__)
  released = malloc_trim(0);
#endif
  napi_value result;
  if (napi_get_boolean(env, released != 0, &result) != napi_ok) return NULL;
  return result;
}

static napi_value Supported (napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
#if defined(__GLIBC__)
  bool supported = true;
#else
  bool supported = false;
#endif
  if (napi_get_boolean(env, supported, &result) != napi_ok) return NULL;
  return result;
}

NAPI_MODULE_INIT () {
  napi_value trim, supported;
  if (napi_create_function(env, "trim", NAPI_AUTO_LENGTH, Trim, NULL, &trim) != napi_ok) return NULL;
  if (napi_create_function(env, "supported", NAPI_AUTO_LENGTH, Supported, NULL, &supported) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "trim", trim) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "supported", supported) != napi_ok) return NULL;
  return exports;
}
