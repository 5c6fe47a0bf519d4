#pragma once
// Binding: each layer spec of a chain gets the output shape of the layer before it as its input.

#include "../core/concepts.hpp"
#include "../core/meta.hpp"

namespace plait {

template <class In, class Layers>
struct bound_list;

template <class In>
struct bound_list<In, type_list<>> {
  using types = type_list<>;
  using out_shape = In;
};

template <class In, class L, class... Rest>
struct bound_list<In, type_list<L, Rest...>> {
 private:
  using head = typename L::template bound<In>;
  using tail = bound_list<typename head::out_shape, type_list<Rest...>>;
  template <class... B>
  static type_list<head, B...> cons(type_list<B...>);

 public:
  using types = decltype(cons(typename tail::types{}));
  using out_shape = typename tail::out_shape;
};

}  // namespace plait
