from django.urls import path

from products import views

app_name = "products"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.create, name="create"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/toggle-active/", views.toggle_active, name="toggle_active"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("bulk/", views.bulk, name="bulk"),
    path("search-status/", views.search_status, name="search_status"),
    path("delete-all/", views.delete_all, name="delete_all"),
    path("delete-all/<int:pk>/", views.delete_all_job, name="delete_all_job"),
]
