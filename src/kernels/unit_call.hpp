// Calls an element-wise unit (an activation of backprop/activation.hpp or a math unit of the
// reference kernels) with the parameters it takes: none, one (alpha) or two (alpha, beta). Shared
// by the reference loops and the vector loops, which inline it. Internal.
#pragma once

namespace bp::kernels {

template <typename U>
[[gnu::always_inline]] inline float forward_of(float x, float alpha, float beta = 0.0f) {
  if constexpr (requires { U::forward(x); })
    return U::forward(x);
  else if constexpr (requires { U::forward(x, alpha); })
    return U::forward(x, alpha);
  else
    return U::forward(x, alpha, beta);
}

template <typename U>
[[gnu::always_inline]] inline float backward_of(float x, float y, float gy, float alpha,
                                                float beta = 0.0f) {
  if constexpr (requires { U::backward(x, y, gy); })
    return U::backward(x, y, gy);
  else if constexpr (requires { U::backward(x, y, gy, alpha); })
    return U::backward(x, y, gy, alpha);
  else
    return U::backward(x, y, gy, alpha, beta);
}

}  // namespace bp::kernels
